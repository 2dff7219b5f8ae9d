// @ts-check
/**
 * The flamegraph view: every span as a bar on the trace's time axis, one row per tree depth
 * (an icicle, root on top), coloured by service. Clicking a bar zooms the axis to that span;
 * the breadcrumb and "Reset" zoom back out. Bars narrower than half a pixel are not drawn (a
 * 10,000-span trace stays cheap) and the count of hidden spans is shown instead.
 */

import { el, ensureStyle, formatDuration, serviceColor, svg } from '../util.js';

/** @typedef {import('../model.js').Trace} Trace @typedef {import('../model.js').Span} Span */

const ROW = 20;

/**
 * The bars of a zoom window in pixels (pure, so tests can check the geometry).
 * @param {Trace} trace
 * @param {number} from start of the window, µs relative to the trace start
 * @param {number} to end of the window, µs relative
 * @param {number} width pixels
 * @returns {{bars: {span: Span, x: number, w: number, y: number}[], hidden: number}}
 */
export function flameBars(trace, from, to, width) {
  const scale = width / Math.max(1, to - from);
  /** @type {{span: Span, x: number, w: number, y: number}[]} */
  const bars = [];
  let hidden = 0;
  for (const span of trace.spans) {
    const a = Math.max(from, span.relativeStart);
    const b = Math.min(to, span.relativeStart + span.duration);
    if (b < a || (b === a && span.duration > 0)) continue;
    const w = (b - a) * scale;
    if (w < 0.5) { hidden++; continue; }
    bars.push({ span, x: (a - from) * scale, w, y: span.depth * ROW });
  }
  return { bars, hidden };
}

/**
 * @param {HTMLElement} container
 * @param {Trace} trace
 */
export function render(container, trace) {
  ensureStyle('static/views/views.css');
  if (!trace.spans.length) {
    container.replaceChildren(el('div', { class: 'muted tv-empty' }, 'This trace has no spans.'));
    return;
  }
  /** @type {Span[]} the zoom path: each entry is a span zoomed into */
  let path = [];
  const crumbs = el('div', { class: 'tv-crumbs' });
  const info = el('span', { class: 'muted' });
  const reset = el('button', { class: 'btn', type: 'button', onclick: () => { path = []; draw(); } }, 'Reset zoom');
  const plot = el('div', { class: 'tv-flame-plot' });
  container.replaceChildren(el('div', { class: 'tv-flame' }, el('div', { class: 'tv-toolbar' }, reset, crumbs, info), plot));

  function draw() {
    const focus = path[path.length - 1];
    const from = focus ? focus.relativeStart : 0;
    const to = focus ? focus.relativeStart + Math.max(1, focus.duration) : Math.max(1, trace.duration);
    const width = Math.max(300, plot.clientWidth || container.clientWidth || 1200) - 2;
    const { bars, hidden } = flameBars(trace, from, to, width);
    const height = Math.max(1, trace.depth) * ROW + 4;
    const root = svg('svg', { class: 'tv-flame-svg', width, height, role: 'img', 'aria-label': `Flamegraph of ${trace.spans.length} spans` });
    for (const b of bars) {
      const s = b.span;
      const g = svg('g', { class: 'tv-flame-bar' + (s.hasError ? ' tv-error' : ''), transform: `translate(${b.x},${b.y})`, 'data-span-id': s.spanID });
      const title = svg('title');
      title.textContent = `${s.serviceName}: ${s.operationName}\n${formatDuration(s.duration)} at +${formatDuration(s.relativeStart)}`;
      g.append(title, svg('rect', { width: Math.max(0.5, b.w - 0.5), height: ROW - 2, rx: 2, fill: serviceColor(s.serviceName) }));
      if (b.w > 36) {
        const t = svg('text', { x: 4, y: 14 });
        const chars = Math.floor((b.w - 8) / 6.5);
        const label = `${s.operationName} (${formatDuration(s.duration)})`;
        t.textContent = label.length > chars ? label.slice(0, Math.max(1, chars - 1)) + '…' : label;
        g.append(t);
      }
      g.addEventListener('click', () => {
        // Zooming into a span already on the path goes back to it.
        const at = path.indexOf(s);
        path = at >= 0 ? path.slice(0, at + 1) : [...path, s];
        draw();
      });
      root.append(g);
    }
    plot.replaceChildren(root);
    crumbs.replaceChildren(el('a', { href: '#', onclick: (/** @type {Event} */ e) => { e.preventDefault(); path = []; draw(); } }, 'Trace'),
      ...path.flatMap((s, i) => [' › ', el('a', { href: '#', onclick: (/** @type {Event} */ e) => { e.preventDefault(); path = path.slice(0, i + 1); draw(); } }, `${s.serviceName}: ${s.operationName}`)]));
    info.textContent = `window ${formatDuration(to - from)} · ${bars.length} bars${hidden ? ` · ${hidden} spans too narrow to draw (zoom in)` : ''}`;
    /** @type {HTMLButtonElement} */ (reset).disabled = !path.length;
  }
  draw();
  // Redraw at the new width when the container was laid out after us (or resized).
  let lastWidth = plot.clientWidth;
  const ro = new ResizeObserver(() => {
    if (!plot.isConnected) { ro.disconnect(); return; }
    if (Math.abs(plot.clientWidth - lastWidth) > 4) { lastWidth = plot.clientWidth; draw(); }
  });
  ro.observe(plot);
}
