// @ts-check
/**
 * The Monitor page (service performance monitoring, Jaeger's Monitor tab): every service with
 * its request rate, error percentage and p95 latency over the window, each as a small chart
 * and its latest value; a service opens to the same for each of its operations. The numbers
 * come from Jaeger's metrics API (`api/metrics/calls|errors|latencies`), which tracegate
 * answers from the RED metrics its store computes as spans are written. The window and the
 * open service live in the URL (`/monitor?lookback=1h&kind=server&service=<name>`).
 */

import { getJSON } from '../api.js';
import { el, ensureStyle, stateBlock, svg } from '../util.js';

/** @type {[string, number][]} */
const LOOKBACKS = [['15m', 15 * 60e3], ['1h', 3600e3], ['6h', 6 * 3600e3], ['24h', 24 * 3600e3]];
const KINDS = ['server', 'client', 'producer', 'consumer', 'internal', 'unspecified'];

/** The store's roll-up block (ten minutes): a query on its boundaries reads a tenth of the rows. */
const BLOCK = 600e3;

/**
 * Step, rate window and last point for a lookback: about 60 points, at least a minute apart
 * (the store's resolution), each averaging at least five minutes so a quiet minute does not
 * drop to zero. From 6 h on, every edge falls on a ten-minute boundary, so the store answers
 * from its roll-ups (a 24 h overview of every service reads a tenth of the rows); the last
 * point then ends the current ten-minute block, and the store gives its rate over the part
 * of the window that has passed.
 * @param {number} lookback ms
 * @param {number} now ms
 */
export function stepFor(lookback, now) {
  if (lookback >= 6 * 3600e3) {
    const step = Math.ceil(lookback / 60 / BLOCK) * BLOCK;
    return { step, ratePer: step, end: Math.ceil(now / BLOCK) * BLOCK };
  }
  const step = Math.max(60e3, Math.ceil(lookback / 60 / 60e3) * 60e3);
  return { step, ratePer: Math.max(step, 5 * 60e3), end: now };
}

/**
 * The series of a Jaeger MetricFamily by label key (`service` or `service\u0000operation`).
 * @param {any} family
 * @returns {Map<string, [number, number][]>}
 */
export function seriesOf(family) {
  /** @type {Map<string, [number, number][]>} */
  const out = new Map();
  for (const m of family?.metrics || []) {
    const labels = Object.fromEntries((m.labels || []).map((/** @type {any} */ l) => [l.name, l.value]));
    const key = labels.operation !== undefined ? `${labels.service_name}\u0000${labels.operation}` : labels.service_name;
    const points = (m.metricPoints || [])
      .map((/** @type {any} */ p) => /** @type {[number, number]} */ ([Date.parse(p.timestamp), Number(p.gaugeValue?.doubleValue ?? NaN)]))
      .filter((/** @type {[number, number]} */ p) => Number.isFinite(p[0]) && Number.isFinite(p[1]));
    out.set(key, points);
  }
  return out;
}

/**
 * A small line chart of `points` over [t0, t1].
 * @param {[number, number][]} points
 * @param {number} t0
 * @param {number} t1
 * @param {string} cls rate | errors | latency
 * @param {string} label
 */
function chart(points, t0, t1, cls, label) {
  const width = 180;
  const height = 36;
  const root = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: `mon-chart ${cls}`, role: 'img', 'aria-label': label, 'data-points': points.length });
  root.append(svg('line', { x1: 0, x2: width, y1: height - 1, y2: height - 1, class: 'base' }));
  if (!points.length) return root;
  const max = Math.max(...points.map((p) => p[1])) || 1;
  const x = (/** @type {number} */ t) => ((t - t0) / Math.max(1, t1 - t0)) * (width - 2) + 1;
  const y = (/** @type {number} */ v) => height - 2 - (v / max) * (height - 6);
  const d = points.map((p, i) => `${i ? 'L' : 'M'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join('');
  const first = points[0];
  const last = points[points.length - 1];
  root.append(svg('path', { d: `${d}L${x(last[0]).toFixed(1)},${height - 1}L${x(first[0]).toFixed(1)},${height - 1}Z`, class: `area ${cls}` }));
  root.append(svg('path', { d, class: `line ${cls}` }));
  const title = svg('title');
  title.textContent = label;
  root.append(title);
  return root;
}

/** @param {[number, number][] | undefined} points */
const latest = (points) => (points && points.length ? points[points.length - 1][1] : NaN);

/** @param {number} v calls per second */
function fmtRate(v) {
  if (!Number.isFinite(v)) return '-';
  return v >= 100 ? `${Math.round(v)} req/s` : v >= 1 ? `${v.toFixed(1)} req/s` : `${v.toFixed(3)} req/s`;
}
/** @param {number} v fraction */
const fmtErr = (v) => (Number.isFinite(v) ? `${(v * 100).toFixed(v > 0 && v < 0.01 ? 2 : 1)}%` : '-');
/** @param {number} v ms */
const fmtMs = (v) => (Number.isFinite(v) ? (v >= 1000 ? `${(v / 1000).toFixed(2)}s` : `${v.toFixed(v < 10 ? 2 : 1)}ms`) : '-');

/**
 * @param {HTMLElement} root
 * @param {import('../app.js').PageContext} ctx
 */
export async function mount(root, ctx) {
  ensureStyle('static/views/views.css');
  ensureStyle('static/monitor/monitor.css');
  const lookbackName = LOOKBACKS.some(([n]) => n === ctx.params.get('lookback')) ? /** @type {string} */ (ctx.params.get('lookback')) : '1h';
  const lookback = /** @type {[string, number]} */ (LOOKBACKS.find(([n]) => n === lookbackName))[1];
  const kind = KINDS.includes(ctx.params.get('kind') || '') ? /** @type {string} */ (ctx.params.get('kind')) : 'server';
  const open = ctx.params.get('service') || '';
  const go = (/** @type {string} */ lb, /** @type {string} */ k, /** @type {string} */ svc) =>
    ctx.navigate(`/monitor?lookback=${lb}&kind=${k}${svc ? `&service=${encodeURIComponent(svc)}` : ''}`);

  const lbSel = el('select', { name: 'lookback', 'aria-label': 'Window', onchange: (/** @type {Event} */ ev) => go(/** @type {any} */ (ev.target).value, kind, open) },
    ...LOOKBACKS.map(([n]) => el('option', { value: n, selected: n === lookbackName }, `Last ${n}`)));
  const kindSel = el('select', { name: 'kind', 'aria-label': 'Span kind', onchange: (/** @type {Event} */ ev) => go(lookbackName, /** @type {any} */ (ev.target).value, open) },
    ...KINDS.map((k) => el('option', { value: k, selected: k === kind }, k)));
  const form = el('form', { class: 'pg-form', onsubmit: (/** @type {Event} */ ev) => { ev.preventDefault(); go(lookbackName, kind, open); } },
    el('label', {}, 'Window', lbSel), el('label', {}, 'Span kind', kindSel), el('button', { class: 'btn primary', type: 'submit' }, 'Refresh'));
  const body = el('div', { class: 'mon-body' }, stateBlock('loading', 'Loading service metrics…'));
  root.replaceChildren(el('div', { class: 'pg' }, el('h1', {}, 'Monitor'), form, body));

  const { step, ratePer, end } = stepFor(lookback, Date.now());
  const t0 = end - lookback;
  /**
   * The three families for `services`, optionally by operation.
   * @param {string[]} services
   * @param {boolean} byOp
   */
  const fetchAll = (services, byOp) => {
    const params = { service: services, spanKind: kind, endTs: end, lookback, step, ratePer, groupByOperation: byOp ? 'true' : undefined };
    return Promise.all([
      getJSON('api/metrics/calls', params),
      getJSON('api/metrics/errors', params),
      getJSON('api/metrics/latencies', { ...params, quantile: 0.95 }),
    ]).then(([c, e, l]) => [seriesOf(c), seriesOf(e), seriesOf(l)]);
  };
  /**
   * @param {string} key
   * @param {Map<string, [number, number][]>[]} families
   */
  const cells = (key, [calls, errors, lat]) => [
    el('td', {}, el('div', { class: 'mon-cell' }, chart(calls.get(key) || [], t0, end, 'rate', `request rate of ${key}`), el('span', { class: 'mon-value mon-rate' }, fmtRate(latest(calls.get(key)))))),
    el('td', {}, el('div', { class: 'mon-cell' }, chart(errors.get(key) || [], t0, end, 'errors', `error rate of ${key}`), el('span', { class: 'mon-value mon-errors' }, fmtErr(latest(errors.get(key)))))),
    el('td', {}, el('div', { class: 'mon-cell' }, chart(lat.get(key) || [], t0, end, 'latency', `p95 latency of ${key}`), el('span', { class: 'mon-value mon-p95' }, fmtMs(latest(lat.get(key)))))),
  ];

  /** @type {string[]} */
  let services;
  /** @type {Map<string, [number, number][]>[]} */
  let families;
  try {
    services = await ctx.api.getServices();
    families = services.length ? await fetchAll(services, false) : [new Map(), new Map(), new Map()];
  } catch (e) {
    const status = e && typeof e === 'object' && 'status' in e ? /** @type {any} */ (e).status : 0;
    const detail = status === 501
      ? 'This store keeps no span metrics (the sled and memory stores do; see span_metrics in docs/configuration.md).'
      : e instanceof Error ? e.message : String(e);
    if (body.isConnected) body.replaceChildren(stateBlock('error', 'Service metrics could not be loaded', detail));
    return;
  }
  if (!body.isConnected) return;
  const active = services.filter((s) => families[0].has(s));
  if (!active.length) {
    body.replaceChildren(stateBlock('empty', 'No calls in this window', `No ${kind} spans were stored in the last ${lookbackName}. Try another span kind or a longer window.`));
    return;
  }
  const table = el('table', { class: 'mon-table data' },
    el('thead', {}, el('tr', {}, el('th', {}, 'Service'), el('th', {}, 'Request rate'), el('th', {}, 'Error %'), el('th', {}, 'P95 latency'))));
  const tbody = el('tbody');
  table.append(tbody);
  for (const s of active) {
    const row = el('tr', { class: 'mon-service', dataset: { service: s } },
      el('td', { class: 'mon-name' }, el('button', { type: 'button', title: `Operations of ${s}`, onclick: () => go(lookbackName, kind, open === s ? '' : s) }, `${open === s ? '▾' : '▸'} ${s}`)),
      ...cells(s, families));
    tbody.append(row);
    if (s === open) {
      const holder = el('tr', { class: 'mon-ops-loading' }, el('td', { colspan: 4 }, stateBlock('loading', `Loading operations of ${s}…`)));
      tbody.append(holder);
      fetchAll([s], true).then((ops) => {
        const keys = [...ops[0].keys()].sort();
        const rows = keys.map((key) => el('tr', { class: 'mon-ops', dataset: { operation: key.split('\u0000')[1] } },
          el('td', { class: 'mon-name' }, el('a', { href: `search?service=${encodeURIComponent(s)}&operation=${encodeURIComponent(key.split('\u0000')[1])}` }, key.split('\u0000')[1])),
          ...cells(key, ops)));
        holder.replaceWith(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: 4 }, stateBlock('empty', 'No operations in this window')))]));
      }, (e) => holder.replaceWith(el('tr', {}, el('td', { colspan: 4 }, stateBlock('error', 'Operations could not be loaded', e instanceof Error ? e.message : String(e))))));
    }
  }
  body.replaceChildren(el('p', { class: 'muted' }, `${active.length} services, ${kind} spans, last ${lookbackName} (a point every ${step / 60e3} min, each over ${ratePer / 60e3} min).`), table);
}
