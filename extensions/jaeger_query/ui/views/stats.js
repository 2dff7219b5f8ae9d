// @ts-check
/**
 * The statistics view: per service and per service+operation, how many spans, their total,
 * average, minimum and maximum duration, and self time (the part of a span not covered by its
 * children, which is where the time was actually spent). Self time is the span's duration minus
 * the union of its children's intervals clipped to the span, so overlapping (parallel) children
 * are not subtracted twice and a child running past its parent's end subtracts only what
 * overlaps.
 */

import { el, ensureStyle, formatDuration } from '../util.js';

/**
 * @typedef {import('../model.js').Trace} Trace
 * @typedef {import('../model.js').Span} Span
 * @typedef {{key: string, service: string, operation: string, count: number, errors: number,
 *   total: number, avg: number, min: number, max: number, selfTotal: number, selfAvg: number,
 *   selfMin: number, selfMax: number, selfPercent: number}} StatsRow
 */

/**
 * Self time of a span, in microseconds.
 * @param {Span} span
 */
export function selfTime(span) {
  const start = span.startTime;
  const end = start + span.duration;
  const intervals = span.children
    .map((c) => [Math.max(start, c.startTime), Math.min(end, c.startTime + c.duration)])
    .filter(([a, b]) => b > a)
    .sort((x, y) => x[0] - y[0]);
  let covered = 0;
  let curA = -Infinity;
  let curB = -Infinity;
  for (const [a, b] of intervals) {
    if (a > curB) {
      if (curB > curA) covered += curB - curA;
      curA = a;
      curB = b;
    } else if (b > curB) {
      curB = b;
    }
  }
  if (curB > curA) covered += curB - curA;
  return Math.max(0, span.duration - covered);
}

/**
 * @param {Trace} trace
 * @param {'service' | 'operation'} by
 * @returns {StatsRow[]} sorted by total self time, largest first
 */
export function computeStats(trace, by) {
  /** @type {Map<string, StatsRow>} */
  const rows = new Map();
  let allSelf = 0;
  for (const span of trace.spans) {
    const key = by === 'service' ? span.serviceName : `${span.serviceName}\u0000${span.operationName}`;
    let row = rows.get(key);
    if (!row) {
      row = {
        key, service: span.serviceName, operation: by === 'service' ? '' : span.operationName,
        count: 0, errors: 0, total: 0, avg: 0, min: Infinity, max: 0,
        selfTotal: 0, selfAvg: 0, selfMin: Infinity, selfMax: 0, selfPercent: 0,
      };
      rows.set(key, row);
    }
    const self = selfTime(span);
    allSelf += self;
    row.count++;
    if (span.hasError) row.errors++;
    row.total += span.duration;
    row.min = Math.min(row.min, span.duration);
    row.max = Math.max(row.max, span.duration);
    row.selfTotal += self;
    row.selfMin = Math.min(row.selfMin, self);
    row.selfMax = Math.max(row.selfMax, self);
  }
  for (const row of rows.values()) {
    row.avg = row.total / row.count;
    row.selfAvg = row.selfTotal / row.count;
    row.selfPercent = allSelf > 0 ? (100 * row.selfTotal) / allSelf : 0;
  }
  return [...rows.values()].sort((a, b) => b.selfTotal - a.selfTotal || a.key.localeCompare(b.key));
}

/** @type {{key: keyof StatsRow, label: string, time?: boolean, title?: string}[]} */
const COLUMNS = [
  { key: 'count', label: 'Count' },
  { key: 'errors', label: 'Errors' },
  { key: 'total', label: 'Total', time: true },
  { key: 'avg', label: 'Avg', time: true },
  { key: 'min', label: 'Min', time: true },
  { key: 'max', label: 'Max', time: true },
  { key: 'selfTotal', label: 'Self total', time: true, title: 'Time not covered by child spans' },
  { key: 'selfAvg', label: 'Self avg', time: true },
  { key: 'selfMin', label: 'Self min', time: true },
  { key: 'selfMax', label: 'Self max', time: true },
  { key: 'selfPercent', label: 'Self %', title: 'Share of all self time in the trace' },
];

/**
 * @param {HTMLElement} container
 * @param {Trace} trace
 */
export function render(container, trace) {
  ensureStyle('static/views/views.css');
  /** @type {'service' | 'operation'} */
  let by = 'service';
  /** @type {keyof StatsRow} */
  let sortKey = 'selfTotal';
  let desc = true;
  const body = el('div', { class: 'tv-stats-body' });
  const picker = el('select', {
    class: 'tv-stats-by', 'aria-label': 'Group by',
    onchange: (/** @type {Event} */ e) => { by = /** @type {any} */ (e.target).value; draw(); },
  }, el('option', { value: 'service' }, 'By service'), el('option', { value: 'operation' }, 'By service and operation'));
  container.replaceChildren(el('div', { class: 'tv-stats' },
    el('div', { class: 'tv-toolbar' }, picker, el('span', { class: 'muted' }, `${trace.spans.length} spans · self time = duration minus the time covered by children`)),
    body));

  function draw() {
    if (!trace.spans.length) {
      body.replaceChildren(el('div', { class: 'muted tv-empty' }, 'This trace has no spans.'));
      return;
    }
    const rows = computeStats(trace, by);
    rows.sort((a, b) => {
      const x = a[sortKey];
      const y = b[sortKey];
      const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
      return desc ? -c : c;
    });
    /** @param {keyof StatsRow} key @param {string} label @param {string} [title] */
    const th = (key, label, title) => el('th', {
      class: 'sortable', title, 'aria-sort': sortKey === key ? (desc ? 'descending' : 'ascending') : undefined,
      onclick: () => { if (sortKey === key) desc = !desc; else { sortKey = key; desc = key !== 'service' && key !== 'operation'; } draw(); },
    }, label + (sortKey === key ? (desc ? ' ▼' : ' ▲') : ''));
    const head = el('tr', {}, th('service', 'Service'), by === 'operation' ? th('operation', 'Operation') : null,
      ...COLUMNS.map((c) => th(c.key, c.label, c.title)));
    const trs = rows.map((r) => el('tr', { dataset: { key: r.key.replace('\u0000', ' ') } },
      el('td', { class: 'tv-name' }, r.service),
      by === 'operation' ? el('td', { class: 'tv-name' }, r.operation) : null,
      ...COLUMNS.map((c) => {
        const v = /** @type {number} */ (r[c.key]);
        const text = c.time ? formatDuration(v) : c.key === 'selfPercent' ? `${v.toFixed(1)}%` : String(v);
        return el('td', { class: 'num', dataset: { col: c.key, value: String(v) } }, text);
      })));
    body.replaceChildren(el('table', { class: 'data tv-stats-table' }, el('thead', {}, head), el('tbody', {}, ...trs)));
  }
  draw();
}
