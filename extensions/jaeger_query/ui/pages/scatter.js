// @ts-check
/**
 * The search results' scatter plot, in SVG: start time across, duration up, dot area by span
 * count, errors ringed in the error colour; clicking a dot opens the trace. Sized to its
 * container once per render (the page re-renders on resize of the results).
 */

import { formatDuration, formatTime, serviceColor, svg } from '../util.js';

/** @typedef {import('../model.js').TraceSummary} TraceSummary */

/**
 * @param {HTMLElement} container
 * @param {TraceSummary[]} rows
 * @param {(traceID: string) => void} open
 */
export function renderScatter(container, rows, open) {
  const width = Math.max(320, container.clientWidth || 800);
  const height = 180;
  const m = { left: 64, right: 16, top: 12, bottom: 26 };
  const w = width - m.left - m.right;
  const h = height - m.top - m.bottom;
  let t0 = Infinity;
  let t1 = -Infinity;
  let dMax = 0;
  let nMax = 1;
  for (const r of rows) {
    t0 = Math.min(t0, r.startTime);
    t1 = Math.max(t1, r.startTime);
    dMax = Math.max(dMax, r.duration);
    nMax = Math.max(nMax, r.spanCount);
  }
  if (t1 - t0 < 1000) { t0 -= 500e3; t1 += 500e3; }
  // A margin so the first and last dots are not cut by the plot's edges.
  const pad = (t1 - t0) * 0.03;
  t0 -= pad;
  t1 += pad;
  dMax = dMax * 1.1 || 1;
  const x = (/** @type {number} */ t) => m.left + ((t - t0) / (t1 - t0)) * w;
  const y = (/** @type {number} */ d) => m.top + h - (d / dMax) * h;
  const root = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: 'scatter-svg', role: 'img', 'aria-label': `${rows.length} traces by start time and duration` });
  for (let i = 0; i <= 4; i++) {
    const d = (dMax * i) / 4;
    root.append(svg('line', { x1: m.left, x2: m.left + w, y1: y(d), y2: y(d), class: 'grid' }));
    const label = svg('text', { x: m.left - 6, y: y(d) + 4, 'text-anchor': 'end', class: 'axis' });
    label.textContent = formatDuration(d);
    root.append(label);
  }
  for (let i = 0; i <= 4; i++) {
    const t = t0 + ((t1 - t0) * i) / 4;
    const label = svg('text', { x: x(t), y: height - 8, 'text-anchor': i === 0 ? 'start' : i === 4 ? 'end' : 'middle', class: 'axis' });
    // Seconds suffice for a wide window; a narrow one needs milliseconds to tell ticks apart.
    label.textContent = formatTime(t).slice(11, t1 - t0 < 20e6 ? 23 : 19);
    root.append(label);
  }
  const dots = svg('g', { class: 'dots' });
  for (const r of rows) {
    const rad = 3 + 9 * Math.sqrt(r.spanCount / nMax);
    const dot = svg('circle', {
      cx: x(r.startTime).toFixed(1), cy: y(r.duration).toFixed(1), r: rad.toFixed(1),
      class: r.errorCount ? 'dot error' : 'dot', fill: serviceColor(r.rootService), 'data-trace-id': r.traceID,
    });
    const title = svg('title');
    title.textContent = `${r.rootService}: ${r.rootOperation}\n${formatDuration(r.duration)}, ${r.spanCount} spans${r.errorCount ? `, ${r.errorCount} errors` : ''}\n${formatTime(r.startTime)}`;
    dot.append(title);
    dot.addEventListener('click', () => open(r.traceID));
    dots.append(dot);
  }
  root.append(dots);
  container.replaceChildren(root);
}
