// @ts-check
/**
 * The flamegraph view: every span as a bar on the trace's time axis below its parent (an
 * icicle, root on top; spans that overlap in time get rows of their own), coloured by service
 * and painted on a canvas. Clicking a bar zooms the axis to that span; the breadcrumb and
 * "Reset" zoom back out; hovering a bar names it in the toolbar. Bars narrower than half a
 * pixel are not drawn (a 10,000-span trace stays cheap), nor rows past MAX_ROWS (a canvas has a
 * size limit); the count of hidden spans is shown instead.
 */

import { el, ensureStyle, formatDuration, serviceColor } from '../util.js';

/** @typedef {import('../model.js').Trace} Trace @typedef {import('../model.js').Span} Span */

const ROW = 20;
/** Rows drawn at most: 1,500 rows of 20 px stay under chromium's 32,767 px canvas limit. */
const MAX_ROWS = 1500;

/** @type {WeakMap<Trace, {rows: Map<Span, number>, count: number}>} */
const laneCache = new WeakMap();

/**
 * The row of each span: one below its parent, or further down when a span already there
 * overlaps it in time (parallel siblings, or a child running past its parent's sibling's
 * start), so no bar ever hides another. Spans come in tree order, so a parent is placed first.
 * @param {Trace} trace
 */
export function flameRows(trace) {
  const cached = laneCache.get(trace);
  if (cached) return cached;
  /** @type {Map<Span, number>} */
  const rows = new Map();
  /** @type {[number, number][][]} occupied intervals per row */
  const taken = [];
  for (const span of trace.spans) {
    const parent = span.parentSpanID ? trace.spanByID.get(span.parentSpanID) : undefined;
    let row = parent ? (rows.get(parent) ?? -1) + 1 : 0;
    const a = span.relativeStart;
    const b = a + Math.max(1, span.duration);
    for (;;) {
      const lane = taken[row] || (taken[row] = []);
      if (!lane.some(([x, y]) => a < y && x < b)) { lane.push([a, b]); break; }
      row++;
    }
    rows.set(span, row);
  }
  const result = { rows, count: taken.length };
  laneCache.set(trace, result);
  return result;
}

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
  const { rows } = flameRows(trace);
  /** @type {{span: Span, x: number, w: number, y: number}[]} */
  const bars = [];
  let hidden = 0;
  for (const span of trace.spans) {
    const a = Math.max(from, span.relativeStart);
    const b = Math.min(to, span.relativeStart + span.duration);
    if (b < a || (b === a && span.duration > 0)) continue;
    const w = (b - a) * scale;
    const row = rows.get(span) || 0;
    if (w < 0.5 || row >= MAX_ROWS) { hidden++; continue; }
    bars.push({ span, x: (a - from) * scale, w, y: row * ROW });
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
    // The plot has 12 px of padding on each side.
    const width = Math.max(300, (plot.clientWidth || container.clientWidth || 1224) - 26);
    const { bars, hidden } = flameBars(trace, from, to, width);
    // A canvas: 10,000 bars as SVG elements take seconds to lay out, painted they take ~20 ms.
    // Clicks and hovers find the bar under the pointer by row, then by x.
    const height = Math.min(MAX_ROWS, Math.max(1, flameRows(trace).count)) * ROW + 4;
    const canvas = /** @type {HTMLCanvasElement} */ (el('canvas', {
      class: 'tv-flame-canvas', role: 'img', 'aria-label': `Flamegraph of ${trace.spans.length} spans`,
      dataset: { bars: String(bars.length), from: String(from), to: String(to) },
    }));
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
    const g = canvas.getContext('2d');
    const css = getComputedStyle(container);
    const errorColor = css.getPropertyValue('--error').trim() || '#d1242f';
    /** @type {Map<number, typeof bars>} */
    const rows = new Map();
    if (g) {
      g.scale(dpr, dpr);
      g.font = '11px system-ui, sans-serif';
      g.textBaseline = 'middle';
      for (const b of bars) {
        const s = b.span;
        const w = Math.max(0.5, b.w - 0.5);
        g.fillStyle = serviceColor(s.serviceName);
        g.fillRect(b.x, b.y, w, ROW - 2);
        if (s.hasError) {
          g.strokeStyle = errorColor;
          g.lineWidth = 1.5;
          g.strokeRect(b.x + 0.75, b.y + 0.75, Math.max(0, w - 1.5), ROW - 3.5);
        }
        if (b.w > 36) {
          const chars = Math.floor((b.w - 8) / 6.5);
          const text = `${s.operationName} (${formatDuration(s.duration)})`;
          g.fillStyle = '#111';
          g.fillText(text.length > chars ? text.slice(0, Math.max(1, chars - 1)) + '…' : text, b.x + 4, b.y + (ROW - 2) / 2);
        }
      }
    }
    for (const b of bars) {
      const row = rows.get(b.y);
      if (row) row.push(b);
      else rows.set(b.y, [b]);
    }
    const barAt = (/** @type {MouseEvent} */ e) => {
      const r = canvas.getBoundingClientRect();
      const x = e.clientX - r.left;
      const y = e.clientY - r.top;
      const row = rows.get(Math.floor(y / ROW) * ROW) || [];
      // The last drawn is on top.
      for (let i = row.length - 1; i >= 0; i--) if (x >= row[i].x && x <= row[i].x + Math.max(1, row[i].w)) return row[i];
      return undefined;
    };
    const summary = `window ${formatDuration(to - from)} · ${bars.length} bars${hidden ? ` · ${hidden} spans not drawn (too narrow or too deep: zoom in)` : ''}`;
    canvas.addEventListener('click', (e) => {
      const b = barAt(e);
      if (!b) return;
      // Zooming into a span already on the path goes back to it.
      const at = path.indexOf(b.span);
      path = at >= 0 ? path.slice(0, at + 1) : [...path, b.span];
      draw();
    });
    canvas.addEventListener('mousemove', (e) => {
      const b = barAt(e);
      canvas.style.cursor = b ? 'zoom-in' : 'default';
      info.textContent = b ? `${b.span.serviceName}: ${b.span.operationName} · ${formatDuration(b.span.duration)} at +${formatDuration(b.span.relativeStart)}${b.span.hasError ? ' · error' : ''}` : summary;
    });
    plot.replaceChildren(canvas);
    crumbs.replaceChildren(el('a', { href: '#', onclick: (/** @type {Event} */ e) => { e.preventDefault(); path = []; draw(); } }, 'Trace'),
      ...path.flatMap((s, i) => [' › ', el('a', { href: '#', onclick: (/** @type {Event} */ e) => { e.preventDefault(); path = path.slice(0, i + 1); draw(); } }, `${s.serviceName}: ${s.operationName}`)]));
    info.textContent = summary;
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
