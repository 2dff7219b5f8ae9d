// @ts-check
/**
 * The search results: the scatter plot and a sortable list of the traces a search found, two
 * of which can be picked to compare, with the live tail (part 2's `live/tail.js`) merging new
 * matches into both. The list is virtualized on a fixed row height, so 1,000 results cost
 * what 20 do.
 */

import { summarizeTrace } from '../model.js';
import { el, formatAgo, formatDuration, formatTime, serviceColor, stateBlock } from '../util.js';
import { renderScatter } from './scatter.js';

/** @typedef {import('../model.js').TraceSummary} TraceSummary */

const SORTS = /** @type {const} */ ([['recent', 'Most recent'], ['longest', 'Longest first'], ['shortest', 'Shortest first'], ['most', 'Most spans'], ['fewest', 'Fewest spans']]);
/** Height of a result row, its gap included (the list is virtualized on it). */
const RESULT_ROW = 76;

/**
 * Runs the search the URL describes and shows the results with the live tail.
 * @param {HTMLElement} results
 * @param {import('../app.js').PageContext} ctx
 * @param {(p: URLSearchParams) => URLSearchParams} apiParams the page URL -> API parameters
 */
export async function showResults(results, ctx, apiParams) {
  results.replaceChildren(stateBlock('loading', 'Searching…'));
  /** @type {URLSearchParams} */
  let query;
  try {
    query = apiParams(ctx.params);
  } catch (e) {
    results.replaceChildren(stateBlock('error', 'The search is not valid', e instanceof Error ? e.message : String(e)));
    return;
  }
  /** @type {any[]} */
  let traces;
  /** @type {string[]} */
  let notes = [];
  try {
    // The server's notes say when it served fewer traces than asked (its max_limit, its
    // byte budget); an api object without the call (tests, older pages) still searches.
    if (typeof ctx.api.searchTracesWithNotes === 'function') ({ traces, notes } = await ctx.api.searchTracesWithNotes(query));
    else traces = await ctx.api.searchTraces(query);
  } catch (e) {
    const status = /** @type {any} */ (e).status;
    results.replaceChildren(stateBlock('error', status === 0 ? 'The query service cannot be reached' : 'The search failed', e instanceof Error ? e.message : String(e)));
    return;
  }
  const tSum = performance.now();
  /** @type {Map<string, TraceSummary>} */
  const byId = new Map();
  for (const t of traces) {
    const s = summarizeTrace(t);
    byId.set(s.traceID, s);
  }
  performance.measure('tg-search-summaries', { start: tSum });
  let sort = 'recent';
  /** @type {Set<string>} */
  const picked = new Set();
  const count = el('h3', { class: 'results-count' });
  const sortSel = /** @type {HTMLSelectElement} */ (el('select', { id: 'results-sort', 'aria-label': 'Sort' }, ...SORTS.map(([v, t]) => el('option', { value: v }, t))));
  const compareBtn = /** @type {HTMLButtonElement} */ (el('button', { class: 'btn', id: 'compare-btn', type: 'button', disabled: true }, 'Compare'));
  const liveSlot = el('span', { class: 'live-slot' });
  const plot = el('div', { class: 'scatter panel' });
  const list = el('div', { class: 'results-list', role: 'list' });
  const header = el('div', { class: 'results-header' }, count, el('span', { class: 'spacer' }), liveSlot, el('label', { class: 'inline' }, 'Sort ', sortSel), compareBtn);
  const noteList = el('ul', { class: 'results-notes warn' }, ...notes.map((n) => el('li', {}, n)));
  noteList.hidden = !notes.length;
  results.replaceChildren(header, noteList, plot, list);

  compareBtn.addEventListener('click', () => {
    const [a, b] = [...picked];
    if (a && b) ctx.navigate(`/trace/${a}...${b}`);
  });
  sortSel.addEventListener('change', () => { sort = sortSel.value; renderList(); });
  const open = (/** @type {string} */ id) => ctx.navigate(`/trace/${id}`);

  function sorted() {
    const all = [...byId.values()];
    const cmp = {
      recent: (/** @type {TraceSummary} */ a, /** @type {TraceSummary} */ b) => b.startTime - a.startTime,
      longest: (/** @type {TraceSummary} */ a, /** @type {TraceSummary} */ b) => b.duration - a.duration,
      shortest: (/** @type {TraceSummary} */ a, /** @type {TraceSummary} */ b) => a.duration - b.duration,
      most: (/** @type {TraceSummary} */ a, /** @type {TraceSummary} */ b) => b.spanCount - a.spanCount,
      fewest: (/** @type {TraceSummary} */ a, /** @type {TraceSummary} */ b) => a.spanCount - b.spanCount,
    }[sort] || (() => 0);
    return all.sort((a, b) => cmp(a, b) || b.startTime - a.startTime || a.traceID.localeCompare(b.traceID));
  }

  // The list is virtualized like the timeline: rows have a fixed height and only those near
  // the viewport of the page's scroller exist, so 1,000 results cost what 20 do.
  /** @type {TraceSummary[]} */
  let ordered = [];
  let maxDur = 1;
  const scroller = /** @type {HTMLElement} */ (results.closest('#page') || document.scrollingElement || document.body);
  function renderList() {
    ordered = sorted();
    maxDur = Math.max(1, ...ordered.map((r) => r.duration));
    list.style.height = `${ordered.length * RESULT_ROW}px`;
    list.dataset.rows = String(ordered.length);
    renderWindow();
  }
  function renderWindow() {
    frame = 0;
    if (!ordered.length) return;
    const top = list.getBoundingClientRect().top - scroller.getBoundingClientRect().top;
    const h = scroller.clientHeight || 800;
    const first = Math.max(0, Math.floor(-top / RESULT_ROW) - 4);
    const last = Math.min(ordered.length, Math.ceil((h - top) / RESULT_ROW) + 4);
    const out = [];
    for (let i = first; i < last; i++) {
      const row = resultRow(ordered[i], maxDur, picked, onPick);
      row.style.top = `${i * RESULT_ROW}px`;
      out.push(row);
    }
    list.replaceChildren(...out);
    onPick();
  }
  let frame = 0;
  const onScroll = () => { if (!frame) frame = requestAnimationFrame(renderWindow); };
  scroller.addEventListener('scroll', onScroll, { passive: true });
  addEventListener('resize', onScroll);
  // The plot is drawn for its width: redraw it when the page's width changes.
  let plotWidth = 0;
  const plotResize = new ResizeObserver(() => {
    const w = plot.clientWidth;
    if (!plot.hidden && byId.size && Math.abs(w - plotWidth) > 8) {
      plotWidth = w;
      renderScatter(plot, [...byId.values()], open);
      plotWidth = plot.clientWidth;
    }
  });
  plotResize.observe(plot);
  function onPick() {
    compareBtn.disabled = picked.size !== 2;
    compareBtn.textContent = picked.size ? `Compare (${picked.size}/2)` : 'Compare';
    for (const cb of list.querySelectorAll('input.pick')) {
      const c = /** @type {HTMLInputElement} */ (cb);
      c.disabled = !c.checked && picked.size >= 2;
    }
  }
  function renderAll() {
    performance.mark('tg-search-render-start');
    const n = byId.size;
    count.textContent = `${n} Trace${n === 1 ? '' : 's'}`;
    const limit = Number(query.get('limit'));
    count.title = limit && n >= limit ? `The limit of ${limit} was reached: there may be more. Raise the limit or narrow the search.` : '';
    count.classList.toggle('limited', Boolean(limit && n >= limit));
    if (!n) {
      plot.hidden = true;
      ordered = [];
      list.style.height = '';
      list.replaceChildren(stateBlock('empty', 'No traces found', 'Nothing matched in this time range. Widen the lookback, loosen the tags or durations, or check the service.'));
    } else {
      plot.hidden = false;
      const t0 = performance.now();
      renderScatter(plot, [...byId.values()], open);
      plotWidth = plot.clientWidth;
      const t1 = performance.now();
      renderList();
      onPick();
      performance.measure('tg-search-plot', { start: t0, end: t1 });
      performance.measure('tg-search-list', { start: t1 });
    }
    performance.measure('tg-search-render', 'tg-search-render-start');
    requestAnimationFrame(() => performance.measure('tg-search-render-painted', 'tg-search-render-start'));
  }
  renderAll();

  /** @type {{element: HTMLElement, stop: () => void} | null} */
  let tail = null;
  let stopped = false;
  if (!ctx.params.getAll('traceID').length) {
    import('../live/tail.js').then((mod) => {
      if (stopped || typeof mod.createLiveTail !== 'function') return;
      const live = new URLSearchParams(query);
      tail = mod.createLiveTail({
        params: live,
        onTraces: (/** @type {any[]} */ incoming) => {
          for (const t of incoming) {
            const s = summarizeTrace(t);
            if (s.traceID) byId.set(s.traceID, s);
          }
          renderAll();
        },
        onError: (/** @type {any} */ err) => {
          // A server without the live endpoint (e.g. a real Jaeger) just has no live tail.
          if (err && (err.status === 404 || err.status === 405) && tail) tail.element.hidden = true;
          else if (tail) tail.element.title = `Live tail: ${err instanceof Error ? err.message : err}`;
        },
      });
      liveSlot.append(tail.element);
    }).catch(() => { liveSlot.hidden = true; });
  }
  return () => {
    stopped = true;
    tail?.stop();
    scroller.removeEventListener('scroll', onScroll);
    removeEventListener('resize', onScroll);
    plotResize.disconnect();
    if (frame) cancelAnimationFrame(frame);
  };
}

/**
 * @param {TraceSummary} r
 * @param {number} maxDur
 * @param {Set<string>} picked
 * @param {() => void} onPick
 */
function resultRow(r, maxDur, picked, onPick) {
  const pick = /** @type {HTMLInputElement} */ (el('input', { type: 'checkbox', class: 'pick', title: 'Pick to compare', 'aria-label': `compare ${r.traceID}`, checked: picked.has(r.traceID) }));
  pick.addEventListener('change', () => {
    if (pick.checked) picked.add(r.traceID);
    else picked.delete(r.traceID);
    onPick();
  });
  const href = new URL(`trace/${r.traceID}`, document.baseURI).pathname;
  return el('div', { class: 'result-row panel', role: 'listitem', dataset: { traceId: r.traceID } },
    el('div', { class: 'result-top' },
      pick,
      el('a', { class: 'result-title', href },
        el('span', { class: 'svc-dot', style: { background: serviceColor(r.rootService) } }),
        `${r.rootService}: ${r.rootOperation}`,
        el('span', { class: 'trace-id mono muted' }, ` ${r.traceID.slice(0, 7)}`)),
      el('span', { class: 'spacer' }),
      el('span', { class: 'result-duration' }, formatDuration(r.duration))),
    el('div', { class: 'duration-track' }, el('div', { class: 'duration-bar', style: { width: `${Math.max(0.5, (r.duration / maxDur) * 100)}%` } })),
    el('div', { class: 'result-bottom' },
      el('span', { class: 'span-count' }, `${r.spanCount} Span${r.spanCount === 1 ? '' : 's'}`),
      r.errorCount ? el('span', { class: 'error-count error-text' }, `${r.errorCount} Error${r.errorCount === 1 ? '' : 's'}`) : null,
      el('span', { class: 'svc-chips' }, ...r.services.map((s) => el('span', { class: 'tag-chip', dataset: { service: s.name } },
        el('span', { class: 'svc-dot', style: { background: serviceColor(s.name) } }), `${s.name} (${s.count})`))),
      el('span', { class: 'spacer' }),
      el('span', { class: 'result-start muted', title: formatTime(r.startTime) }, `${formatTime(r.startTime)} · ${formatAgo(r.startTime)}`)));
}
