// @ts-check
/**
 * The compare page: `/trace/{a}...{b}` (Jaeger's URL) loads both traces and shows, per
 * service+operation, the span counts and total durations on each side, colour-coded: only in
 * A, only in B, more or fewer calls in B; durations that grew or shrank by more than 10% are
 * marked slower/faster. `/compare` asks for the two ids.
 */

import { diffFlat, diffTree, flattenTree, summarize } from '../compare/diff.js';
import { normalizeTrace } from '../model.js';
import { el, ensureStyle, formatDuration, serviceColor, stateBlock } from '../util.js';

/** Rows drawn at most (a 10,000-span trace can have thousands of distinct paths). */
const MAX_ROWS = 3000;

/**
 * @param {HTMLElement} root
 * @param {import('../app.js').PageContext} ctx
 */
export async function mount(root, ctx) {
  ensureStyle('static/views/views.css');
  const m = /^\/trace\/([^/]+)\.\.\.([^/]+)$/.exec(ctx.path);
  const ids = m ? [decodeURIComponent(m[1]), decodeURIComponent(m[2])] : [ctx.params.get('a') || '', ctx.params.get('b') || ''];
  const form = pickForm(ids, ctx);
  if (!m) {
    root.replaceChildren(el('div', { class: 'pg' }, el('h1', {}, 'Compare two traces'), form,
      stateBlock('empty', 'Enter two trace ids', 'Or pick two results on the search page and press Compare.')));
    return;
  }
  const body = el('div', { class: 'cmp-body' }, stateBlock('loading', `Loading ${ids[0]} and ${ids[1]}…`));
  root.replaceChildren(el('div', { class: 'pg' }, el('h1', {}, 'Compare traces'), form, body));
  const results = await Promise.allSettled(ids.map((id) => ctx.api.getTrace(id)));
  if (!body.isConnected) return;
  const failed = results.map((r, i) => (r.status === 'rejected' ? `${i ? 'B' : 'A'} (${ids[i]}): ${r.reason instanceof Error ? r.reason.message : r.reason}` : '')).filter(Boolean);
  if (failed.length) {
    body.replaceChildren(stateBlock('error', failed.length === 2 ? 'Neither trace could be loaded' : 'A trace could not be loaded', failed.join('\n')));
    return;
  }
  const [a, b] = results.map((r) => normalizeTrace(/** @type {PromiseFulfilledResult<any>} */ (r).value));
  showDiff(body, a, b);
}

/**
 * @param {string[]} ids
 * @param {import('../app.js').PageContext} ctx
 */
function pickForm(ids, ctx) {
  const inA = el('input', { name: 'a', placeholder: 'Trace A id', value: ids[0], size: 34, 'aria-label': 'Trace A id', class: 'mono' });
  const inB = el('input', { name: 'b', placeholder: 'Trace B id', value: ids[1], size: 34, 'aria-label': 'Trace B id', class: 'mono' });
  return el('form', {
    class: 'pg-form cmp-form',
    onsubmit: (/** @type {Event} */ e) => {
      e.preventDefault();
      const a = /** @type {HTMLInputElement} */ (inA).value.trim();
      const b = /** @type {HTMLInputElement} */ (inB).value.trim();
      if (a && b) ctx.navigate(`/trace/${encodeURIComponent(a)}...${encodeURIComponent(b)}`);
    },
  }, el('label', {}, 'A', inA), el('label', {}, 'B', inB), el('button', { class: 'btn primary', type: 'submit' }, 'Compare'));
}

/** @param {import('../model.js').Trace} t @param {string} side */
function head(t, side) {
  const root = t.roots[0];
  return el('div', { class: 'panel cmp-head', dataset: { side } },
    el('div', {}, el('strong', {}, `${side}: `), root ? `${root.serviceName}: ${root.operationName}` : '(no root)'),
    el('div', {}, el('a', { class: 'mono', href: `trace/${t.traceID}` }, t.traceID)),
    el('div', { class: 'muted' }, `${t.spans.length} spans · ${formatDuration(t.duration)} · ${t.services.length} services · ${t.errorCount} errors`));
}

/**
 * @param {number} a
 * @param {number} b
 */
function durationDelta(a, b) {
  const d = b - a;
  const cls = a > 0 && Math.abs(d) / a > 0.1 ? (d > 0 ? 'cmp-slower' : 'cmp-faster') : '';
  const pct = a > 0 ? ` (${d >= 0 ? '+' : ''}${((100 * d) / a).toFixed(0)}%)` : '';
  return el('td', { class: `num ${cls}`, dataset: { col: 'dDur', value: String(d) } }, d === 0 ? '0' : `${d > 0 ? '+' : '−'}${formatDuration(Math.abs(d))}${pct}`);
}

/**
 * @param {HTMLElement} body
 * @param {import('../model.js').Trace} a
 * @param {import('../model.js').Trace} b
 */
function showDiff(body, a, b) {
  const flat = diffFlat(a, b);
  const sum = summarize(flat);
  const tree = flattenTree(diffTree(a, b));
  let mode = 'tree';
  let hideSame = false;
  const table = el('div', { class: 'cmp-table' });
  const swatch = (/** @type {string} */ cls, /** @type {string} */ text) => el('span', {}, el('span', { class: `cmp-swatch ${cls}` }), text);
  const modeSel = el('select', { 'aria-label': 'Match spans', onchange: (/** @type {Event} */ e) => { mode = /** @type {any} */ (e.target).value; draw(); } },
    el('option', { value: 'tree' }, 'Matched by path from the root'), el('option', { value: 'flat' }, 'Matched by service + operation'));
  const hide = el('label', { style: { flexDirection: 'row', alignItems: 'center' } },
    el('input', { type: 'checkbox', onchange: (/** @type {Event} */ e) => { hideSame = /** @type {HTMLInputElement} */ (e.target).checked; draw(); } }), ' Hide identical');
  body.replaceChildren(
    el('div', { class: 'cmp-heads' }, head(a, 'A'), head(b, 'B')),
    el('div', { class: 'cmp-summary', dataset: { onlyA: String(sum.onlyA), onlyB: String(sum.onlyB), changed: String(sum.changed) } },
      `${flat.length} service/operation pairs: ${sum.onlyA} only in A, ${sum.onlyB} only in B, ${sum.changed} with a different span count, ${sum.same} the same. `,
      `Spans ${a.spans.length} → ${b.spans.length}; duration ${formatDuration(a.duration)} → ${formatDuration(b.duration)}.`),
    el('div', { class: 'tv-toolbar cmp-legend' }, modeSel, hide,
      swatch('cmp-only-a', 'only in A'), swatch('cmp-only-b', 'only in B'), swatch('cmp-more', 'more in B'), swatch('cmp-fewer', 'fewer in B'),
      el('span', { class: 'cmp-slower' }, 'slower'), el('span', { class: 'cmp-faster' }, 'faster')),
    table);

  function draw() {
    /** @type {(import('../compare/diff.js').DiffRow & {depth?: number})[]} */
    let rows = mode === 'tree' ? tree : flat;
    // Identical: the same number of calls taking within 10% of the same time.
    if (hideSame) rows = rows.filter((r) => r.status !== 'same' || Math.abs(r.durB - r.durA) > 0.1 * r.durA);
    if (!rows.length) {
      table.replaceChildren(stateBlock('empty', 'No differences', 'Both traces have the same calls.'));
      return;
    }
    const shown = rows.slice(0, MAX_ROWS);
    const trs = shown.map((r) => el('tr', { class: `cmp-${r.status}`, dataset: { status: r.status, service: r.service, operation: r.operation } },
      el('td', { class: 'tv-name' },
        mode === 'tree' ? el('span', { class: 'cmp-indent', style: { width: `${Math.min(40, r.depth || 0) * 14}px` } }) : null,
        el('span', { class: 'svc-dot', style: { background: serviceColor(r.service) } }), r.service),
      el('td', { class: 'tv-name' }, r.operation),
      el('td', { class: 'num', dataset: { col: 'countA', value: String(r.countA) } }, String(r.countA)),
      el('td', { class: 'num', dataset: { col: 'countB', value: String(r.countB) } }, String(r.countB)),
      el('td', { class: 'num', dataset: { col: 'dCount', value: String(r.countB - r.countA) } }, r.countB === r.countA ? '0' : `${r.countB > r.countA ? '+' : '−'}${Math.abs(r.countB - r.countA)}`),
      el('td', { class: 'num', dataset: { col: 'durA', value: String(r.durA) } }, r.countA ? formatDuration(r.durA) : '–'),
      el('td', { class: 'num', dataset: { col: 'durB', value: String(r.durB) } }, r.countB ? formatDuration(r.durB) : '–'),
      durationDelta(r.durA, r.durB),
      el('td', { class: 'num' }, r.errA || r.errB ? `${r.errA} → ${r.errB}` : '')));
    table.replaceChildren(
      el('table', { class: 'data cmp-rows' },
        el('thead', {}, el('tr', {}, ...['Service', 'Operation', 'Spans A', 'Spans B', 'Δ spans', 'Total A', 'Total B', 'Δ duration', 'Errors'].map((h, i) => el('th', { class: i > 1 ? 'num' : '' }, h)))),
        el('tbody', {}, ...trs)),
      rows.length > MAX_ROWS ? el('div', { class: 'muted' }, `${rows.length - MAX_ROWS} more rows not shown; tick "Hide identical" or use the flat match.`) : '');
  }
  draw();
}
