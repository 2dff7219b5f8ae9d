// @ts-check
/**
 * The trace timeline: a collapsible tree of spans beside their bars on one time axis, and a
 * minimap above it to pick the time range the axis shows. Rows have a fixed height and only
 * the rows in (and just around) the viewport exist in the DOM, so a 10,000-span trace costs
 * the same to draw and to scroll as a 50-span one. Subtrees are contiguous in the model's
 * depth-first order, so collapsing a span skips `subtreeSize` entries, no tree walk needed.
 */

import { el, formatDuration, serviceColor } from '../util.js';

/** @typedef {import('../model.js').Trace} Trace @typedef {import('../model.js').Span} Span */

export const ROW_HEIGHT = 24;
const OVERSCAN = 12;

/**
 * @param {HTMLElement} container
 * @param {Trace} trace
 * @param {{onSelect: (span: Span | null) => void, onService?: (service: string) => void}} opts
 */
export function createTimeline(container, trace, opts) {
  const spans = trace.spans;
  const n = spans.length;
  /** @type {Map<string, number>} */
  const index = new Map();
  spans.forEach((s, i) => index.set(s.spanID, i));
  const size = new Int32Array(n).fill(1);
  for (let i = n - 1; i >= 0; i--) {
    const p = spans[i].parentSpanID;
    if (p !== null) size[/** @type {number} */ (index.get(p))] += size[i];
  }
  /** @type {Set<string>} */
  const collapsed = new Set();
  /** @type {Set<string>} */
  let matches = new Set();
  /** @type {Set<string>} */
  let critical = new Set();
  /** @type {string | null} */
  let selected = null;
  let range = /** @type {[number, number]} */ ([0, 1]);
  /** @type {number[]} */
  let visible = [];
  /** @type {Map<string, number>} */
  let rowOf = new Map();
  const dur = Math.max(1, trace.duration);

  function computeVisible() {
    visible = [];
    rowOf = new Map();
    for (let i = 0; i < n;) {
      rowOf.set(spans[i].spanID, visible.length);
      visible.push(i);
      i += collapsed.has(spans[i].spanID) ? size[i] : 1;
    }
    spacer.style.height = `${visible.length * ROW_HEIGHT}px`;
    body.dataset.rows = String(visible.length);
  }

  // --- DOM ----------------------------------------------------------------------------------
  const canvas = /** @type {HTMLCanvasElement} */ (el('canvas', { class: 'minimap-canvas', height: '48' }));
  const selBox = el('div', { class: 'minimap-range' });
  const dragBox = el('div', { class: 'minimap-drag', hidden: true });
  const resetBtn = el('button', { class: 'btn ghost minimap-reset', type: 'button', hidden: true, onclick: () => setRange(0, 1) }, 'Reset zoom');
  const minimap = el('div', { class: 'minimap', title: 'Drag to zoom into a time range' }, canvas, selBox, dragBox);
  const ticks = el('div', { class: 'tl-ticks' });
  const grip = el('div', { class: 'tl-grip', title: 'Drag to resize the names column', role: 'separator', 'aria-orientation': 'vertical' });
  const header = el('div', { class: 'tl-header' }, el('div', { class: 'tl-name-h' }, 'Service & Operation', resetBtn, grip), ticks);
  const rows = el('div', { class: 'tl-rows' });
  const spacer = el('div', { class: 'tl-spacer' }, rows);
  const body = el('div', { class: 'tl-body', tabindex: '0', role: 'tree', 'aria-label': 'Spans' }, spacer);
  /** @type {Map<string, number>} */
  const perService = new Map();
  for (const sp of spans) perService.set(sp.serviceName, (perService.get(sp.serviceName) || 0) + 1);
  const legend = el('div', { class: 'legend', 'aria-label': 'Services' }, ...trace.services.map((svc) => el('button', {
    type: 'button', class: 'legend-item', title: `Find ${svc}'s spans`, dataset: { service: svc }, onclick: () => opts.onService?.(svc),
  }, el('span', { class: 'svc-dot', style: { background: serviceColor(svc) } }), `${svc} (${perService.get(svc)})`)));
  container.replaceChildren(el('div', { class: 'minimap-wrap' }, legend, minimap), header, body);

  function drawMinimap() {
    const w = Math.max(100, minimap.clientWidth);
    canvas.width = w;
    const ctx2d = canvas.getContext('2d');
    if (!ctx2d) return;
    ctx2d.clearRect(0, 0, w, 48);
    const rowH = Math.max(1, 48 / Math.max(1, n));
    for (let i = 0; i < n; i++) {
      const s = spans[i];
      ctx2d.fillStyle = serviceColor(s.serviceName);
      ctx2d.fillRect((s.relativeStart / dur) * w, (i / n) * 48, Math.max(1, (s.duration / dur) * w), rowH);
    }
    selBox.style.left = `${range[0] * 100}%`;
    selBox.style.width = `${(range[1] - range[0]) * 100}%`;
  }

  function drawTicks() {
    ticks.replaceChildren();
    for (let i = 0; i <= 4; i++) {
      const t = (range[0] + ((range[1] - range[0]) * i) / 4) * dur;
      ticks.append(el('span', { class: 'tl-tick', style: { left: `${i * 25}%` } }, formatDuration(t)));
    }
  }

  /** @param {number} row */
  function rowElement(row) {
    const i = visible[row];
    const s = spans[i];
    const hasKids = s.children.length > 0;
    const isCollapsed = collapsed.has(s.spanID);
    const span0 = range[0] * dur;
    const viewDur = (range[1] - range[0]) * dur;
    // Zoomed in, a bar is clipped to the visible range; one wholly outside it is not drawn
    // (its row and label stay, so the tree keeps its shape).
    const rawLeft = ((s.relativeStart - span0) / viewDur) * 100;
    const rawRight = rawLeft + (s.duration / viewDur) * 100;
    const inView = rawRight >= 0 && rawLeft <= 100;
    const left = Math.min(100, Math.max(0, rawLeft));
    const width = Math.max(Math.min(100, rawRight) - left, 0.15);
    const color = serviceColor(s.serviceName);
    const cls = ['tl-row'];
    if (s.spanID === selected) cls.push('selected');
    if (matches.has(s.spanID)) cls.push('match');
    if (s.hasError) cls.push('error');
    if (critical.has(s.spanID)) cls.push('critical');
    const label = el('span', { class: 'tl-label' }, formatDuration(s.duration));
    if (left + width > 80 && left > 15) Object.assign(label.style, { right: `${100 - left}%` });
    else if (left + width > 80) {
      label.classList.add('inside');
      Object.assign(label.style, { left: `${Math.max(0, left)}%` });
    } else Object.assign(label.style, { left: `${left + width}%` });
    return el('div', {
      class: cls.join(' '), role: 'treeitem', 'aria-level': s.depth + 1, 'aria-selected': s.spanID === selected ? 'true' : 'false',
      'aria-expanded': hasKids ? String(!isCollapsed) : null, style: { top: `${row * ROW_HEIGHT}px` }, dataset: { spanId: s.spanID },
      title: `${s.serviceName}: ${s.operationName}\n${formatDuration(s.duration)} at ${formatDuration(s.relativeStart)}${s.hasError ? '\nerror' : ''}`,
    },
    el('div', { class: 'tl-name', style: { paddingLeft: `${Math.min(s.depth * 12, 240) + 4}px` } },
      hasKids ? el('button', { class: 'tl-toggle', type: 'button', tabindex: '-1', 'aria-label': isCollapsed ? 'Expand' : 'Collapse' }, isCollapsed ? '▸' : '▾') : el('span', { class: 'tl-toggle-pad' }),
      el('span', { class: 'svc-stripe', style: { background: color } }),
      el('span', { class: 'tl-svc' }, s.serviceName),
      el('span', { class: 'tl-op muted' }, s.operationName),
      s.hasError ? el('span', { class: 'tl-err', title: 'error' }, '!') : null,
      hasKids && isCollapsed ? el('span', { class: 'tl-hidden muted' }, `+${size[i] - 1}`) : null),
    el('div', { class: 'tl-bar-area' },
      inView ? el('div', { class: 'tl-bar', style: { left: `${left}%`, width: `${width}%`, background: color } }) : null,
      label));
  }

  let frame = 0;
  // Cost of drawing the visible rows, kept on the element for the browser tests' figures.
  let frames = 0;
  let worstMs = 0;
  let totalMs = 0;
  /** Rows in the DOM by row number: a scroll only adds the rows that came into view and drops
   * those that left, so a frame usually builds one or two rows, not forty. */
  /** @type {Map<number, HTMLElement>} */
  let drawn = new Map();
  /** Redraws every visible row (state changed: selection, matches, range, collapse). */
  function render() {
    drawn = new Map();
    rows.replaceChildren();
    update();
  }
  function update() {
    const t0 = performance.now();
    frame = 0;
    const top = body.scrollTop;
    const h = body.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(visible.length, Math.ceil((top + h) / ROW_HEIGHT) + OVERSCAN);
    for (const [r, node] of drawn) {
      if (r < first || r >= last) {
        node.remove();
        drawn.delete(r);
      }
    }
    const fresh = [];
    for (let r = first; r < last; r++) {
      if (drawn.has(r)) continue;
      const node = rowElement(r);
      drawn.set(r, node);
      fresh.push(node);
    }
    rows.append(...fresh);
    const ms = performance.now() - t0;
    frames++;
    totalMs += ms;
    worstMs = Math.max(worstMs, ms);
    body.dataset.frames = String(frames);
    body.dataset.frameMsAvg = (totalMs / frames).toFixed(2);
    body.dataset.frameMsMax = worstMs.toFixed(2);
  }
  function schedule() {
    if (!frame) frame = requestAnimationFrame(update);
  }
  body.addEventListener('scroll', schedule, { passive: true });

  rows.addEventListener('click', (ev) => {
    const target = /** @type {HTMLElement} */ (ev.target);
    const row = /** @type {HTMLElement | null} */ (target.closest('.tl-row'));
    if (!row) return;
    const id = /** @type {string} */ (row.dataset.spanId);
    if (target.closest('.tl-toggle')) toggle(id);
    else select(selected === id ? null : id);
  });

  // --- names column width: dragged on the header's grip, kept for the next trace ----------------
  const savedWidth = Number(localStorage.getItem('tracegate.nameWidth'));
  if (savedWidth >= 200 && savedWidth <= 800) container.style.setProperty('--name-w', `${savedWidth}px`);
  /** @type {number | null} */
  let gripFrom = null;
  let gripWidth = 0;
  grip.addEventListener('mousedown', (ev) => {
    gripFrom = ev.clientX;
    gripWidth = /** @type {HTMLElement} */ (grip.parentElement).getBoundingClientRect().width;
    ev.preventDefault();
    ev.stopPropagation();
  });
  const onGripMove = (/** @type {MouseEvent} */ ev) => {
    if (gripFrom === null) return;
    const w = Math.round(Math.min(800, Math.max(200, gripWidth + ev.clientX - gripFrom)));
    container.style.setProperty('--name-w', `${w}px`);
  };
  const onGripUp = () => {
    if (gripFrom === null) return;
    gripFrom = null;
    localStorage.setItem('tracegate.nameWidth', String(parseInt(container.style.getPropertyValue('--name-w'), 10) || 360));
  };
  addEventListener('mousemove', onGripMove);
  addEventListener('mouseup', onGripUp);

  // --- minimap range selection ----------------------------------------------------------------
  /** @type {number | null} */
  let dragFrom = null;
  const frac = (/** @type {MouseEvent} */ ev) => {
    const r = minimap.getBoundingClientRect();
    return Math.min(1, Math.max(0, (ev.clientX - r.left) / Math.max(1, r.width)));
  };
  minimap.addEventListener('mousedown', (ev) => {
    dragFrom = frac(ev);
    ev.preventDefault();
  });
  const onMove = (/** @type {MouseEvent} */ ev) => {
    if (dragFrom === null) return;
    const f = frac(ev);
    dragBox.hidden = false;
    dragBox.style.left = `${Math.min(dragFrom, f) * 100}%`;
    dragBox.style.width = `${Math.abs(f - dragFrom) * 100}%`;
  };
  const onUp = (/** @type {MouseEvent} */ ev) => {
    if (dragFrom === null) return;
    const f = frac(ev);
    const [a, b] = [Math.min(dragFrom, f), Math.max(dragFrom, f)];
    dragFrom = null;
    dragBox.hidden = true;
    if (b - a > 0.005) setRange(a, b);
  };
  addEventListener('mousemove', onMove);
  addEventListener('mouseup', onUp);
  const resize = new ResizeObserver(() => drawMinimap());
  resize.observe(minimap);

  // --- API ------------------------------------------------------------------------------------
  /** @param {number} a @param {number} b */
  function setRange(a, b) {
    range = [Math.max(0, a), Math.min(1, b)];
    resetBtn.hidden = range[0] === 0 && range[1] === 1;
    container.dataset.range = `${range[0].toFixed(4)}-${range[1].toFixed(4)}`;
    drawMinimap();
    drawTicks();
    render();
  }
  /** @param {string} id */
  function toggle(id) {
    if (collapsed.has(id)) collapsed.delete(id);
    else if (spans[/** @type {number} */ (index.get(id))]?.children.length) collapsed.add(id);
    computeVisible();
    render();
  }
  /** Expands every ancestor of a span so it has a row. @param {string} id */
  function reveal(id) {
    let s = trace.spanByID.get(id);
    let changed = false;
    while (s && s.parentSpanID) {
      if (collapsed.delete(s.parentSpanID)) changed = true;
      s = trace.spanByID.get(s.parentSpanID);
    }
    if (changed) computeVisible();
  }
  /** @param {string} id */
  function scrollTo(id) {
    const row = rowOf.get(id);
    if (row === undefined) return;
    const top = row * ROW_HEIGHT;
    const h = body.clientHeight || 600;
    if (top < body.scrollTop) body.scrollTop = top;
    else if (top + ROW_HEIGHT > body.scrollTop + h) body.scrollTop = top + ROW_HEIGHT - h;
    render();
  }
  /** @param {string | null} id @param {{scroll?: boolean}} [o] */
  function select(id, o = {}) {
    selected = id && index.has(id) ? id : null;
    if (selected) reveal(selected);
    if (selected && o.scroll) scrollTo(selected);
    render();
    opts.onSelect(selected ? spans[/** @type {number} */ (index.get(selected))] : null);
  }
  /** Moves the selection by `delta` visible rows. @param {number} delta */
  function move(delta) {
    const row = selected === null ? (delta > 0 ? -1 : visible.length) : /** @type {number} */ (rowOf.get(selected));
    const next = Math.min(visible.length - 1, Math.max(0, row + delta));
    if (visible.length) select(spans[visible[next]].spanID, { scroll: true });
  }

  computeVisible();
  setRange(0, 1);
  return {
    body,
    setRange,
    toggle,
    select,
    move,
    scrollTo,
    reveal,
    get selected() { return selected; },
    /** @param {string} id */
    isCollapsed: (id) => collapsed.has(id),
    expandAll() { collapsed.clear(); computeVisible(); render(); },
    collapseAll() {
      for (const s of spans) if (s.children.length) collapsed.add(s.spanID);
      computeVisible();
      render();
    },
    /** @param {Set<string>} m */
    setMatches(m) { matches = m; render(); },
    /** @param {Set<string>} c */
    setCritical(c) { critical = c; render(); },
    destroy() {
      removeEventListener('mousemove', onMove);
      removeEventListener('mouseup', onUp);
      removeEventListener('mousemove', onGripMove);
      removeEventListener('mouseup', onGripUp);
      resize.disconnect();
      if (frame) cancelAnimationFrame(frame);
    },
  };
}
