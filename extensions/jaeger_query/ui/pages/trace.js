// @ts-check
/**
 * The trace page: a header with the trace's vital numbers, tabs for its views (the timeline
 * here; graph, statistics, flamegraph and JSON are modules of their own, loaded on first use),
 * find-in-trace, and keyboard navigation. `renderTrace` shows any Jaeger trace, stored or not
 * (the upload page uses it for a file).
 *
 * Keys (when no input has focus): ↑/↓ or k/j move the selection, → or l expands (or goes to the
 * first child), ← or h collapses (or goes to the parent), Enter or Space toggles the subtree,
 * PageUp/PageDown move by 20 rows, Home/End go to the first/last row,
 * `/` focuses find, n/N jump to the next/previous match, Esc closes the detail or clears find.
 */

import { criticalPath, normalizeTrace } from '../model.js';
import { el, formatDuration, formatTime, serviceColor, stateBlock } from '../util.js';
import { createTimeline } from './timeline.js';
import { renderSpanDetail } from './span-detail.js';

/** @typedef {import('../model.js').Trace} Trace @typedef {import('../model.js').Span} Span */

const VIEWS = [['timeline', 'Timeline'], ['graph', 'Graph'], ['stats', 'Statistics'], ['flamegraph', 'Flamegraph'], ['json', 'JSON']];

/**
 * Spans matching every whitespace-separated term (case-insensitive) in their service,
 * operation, id, tags (`key=value`), process tags or log fields.
 * @param {Trace} trace
 * @param {string} query
 * @returns {Set<string>}
 */
export function findSpans(trace, query) {
  const terms = query.toLowerCase().split(/\s+/).filter(Boolean);
  /** @type {Set<string>} */
  const out = new Set();
  if (!terms.length) return out;
  const texts = searchText(trace);
  trace.spans.forEach((s, i) => {
    if (terms.every((t) => texts[i].includes(t))) out.add(s.spanID);
  });
  return out;
}

/** Each span's searchable text, built once per trace: typing in find must not rebuild it. */
const searchTexts = new WeakMap();
/** @param {Trace} trace @returns {string[]} */
function searchText(trace) {
  let texts = searchTexts.get(trace);
  if (!texts) {
    const kv = (/** @type {{key: string, value: any}[]} */ list) => list.map((t) => `${t.key}=${t.value}`).join(' ');
    texts = trace.spans.map((s) => [s.serviceName, s.operationName, s.spanID, kv(s.tags), kv(s.process.tags), ...s.logs.map((l) => kv(l.fields || []))].join(' ').toLowerCase());
    searchTexts.set(trace, texts);
  }
  return texts;
}

/**
 * @param {HTMLElement} root
 * @param {any} jaegerTrace
 * @param {import('../app.js').PageContext} ctx
 * @returns {() => void} unmount
 */
export function renderTrace(root, jaegerTrace, ctx) {
  const t0 = performance.now();
  const trace = normalizeTrace(jaegerTrace);
  const cp = criticalPath(trace);
  const rootSpan = trace.roots[0];
  const stat = (/** @type {string} */ key, /** @type {string} */ label, /** @type {Node | string} */ value) => el('div', { class: 'stat', dataset: { stat: key } }, el('span', { class: 'muted' }, label), el('strong', {}, value));
  if (rootSpan) document.title = `${rootSpan.serviceName}: ${rootSpan.operationName} · tracegate`;
  const header = el('header', { class: 'trace-header' },
    el('h2', { class: 'trace-title' },
      rootSpan ? el('span', { class: 'svc-dot', style: { background: serviceColor(rootSpan.serviceName) } }) : null,
      rootSpan ? `${rootSpan.serviceName}: ${rootSpan.operationName}` : 'Empty trace',
      el('span', { class: 'mono muted trace-id' }, ` ${trace.traceID}`)),
    el('div', { class: 'trace-stats' },
      stat('start', 'Trace Start', formatTime(trace.startTime)),
      stat('duration', 'Duration', formatDuration(trace.duration)),
      stat('services', 'Services', String(trace.services.length)),
      stat('depth', 'Depth', String(trace.depth)),
      stat('spans', 'Total Spans', String(trace.spans.length)),
      stat('errors', 'Errors', trace.errorCount
        ? el('a', { href: '#', class: 'error-text', title: 'Find the spans with errors', onclick: (/** @type {Event} */ ev) => { ev.preventDefault(); findErrors(); } }, String(trace.errorCount))
        : '0')),
    trace.warnings.length ? el('ul', { class: 'trace-warnings warn' }, ...trace.warnings.map((w) => el('li', {}, w))) : null);

  const params = ctx?.params || new URLSearchParams();
  const tabs = el('div', { class: 'tabs', role: 'tablist' });
  const findInput = /** @type {HTMLInputElement} */ (el('input', { id: 'trace-find', type: 'search', placeholder: 'Find… ( / )', 'aria-label': 'Find in trace', value: params.get('uiFind') || '' }));
  const findCount = el('span', { class: 'find-count muted', id: 'trace-find-count' });
  const cpToggle = /** @type {HTMLInputElement} */ (el('input', { type: 'checkbox', id: 'critical-toggle', checked: true }));
  const toolbar = el('div', { class: 'trace-toolbar' },
    el('button', { class: 'btn', type: 'button', id: 'expand-all' }, 'Expand all'),
    el('button', { class: 'btn', type: 'button', id: 'collapse-all' }, 'Collapse all'),
    el('label', { class: 'inline' }, cpToggle, 'Critical path'),
    el('span', { class: 'spacer' }),
    el('span', { class: 'keys-hint muted', title: '↑/↓ or k/j: move · PgUp/PgDn, Home/End · →/l: expand or first child · ←/h: collapse or parent · Enter: toggle · /: find · n/N: next/previous match · Esc: close' }, 'Keys ?'),
    findInput, findCount,
    el('button', { class: 'btn', type: 'button', id: 'find-prev', title: 'Previous match (N)' }, '↑'),
    el('button', { class: 'btn', type: 'button', id: 'find-next', title: 'Next match (n)' }, '↓'));
  const timelineBox = el('div', { class: 'timeline' });
  const detail = el('aside', { class: 'span-detail panel', hidden: true, 'aria-label': 'Span detail' });
  const timelinePane = el('div', { class: 'timeline-pane' }, el('div', { class: 'timeline-main' }, toolbar, timelineBox), detail);
  const altPane = el('div', { class: 'trace-view-alt', hidden: true });
  root.replaceChildren(el('div', { class: 'trace-page', dataset: { traceId: trace.traceID } }, header, tabs, timelinePane, altPane));

  if (!trace.spans.length) {
    timelinePane.replaceChildren(stateBlock('empty', 'This trace has no spans'));
  }

  const timeline = createTimeline(timelineBox, trace, {
    onService(svc) {
      findInput.value = svc;
      runFind();
    },
    onSelect(span) {
      // The selected span is part of the URL, so a shared link opens on it.
      const url = new URL(location.href);
      if (span) url.searchParams.set('span', span.spanID);
      else url.searchParams.delete('span');
      if (url.href !== location.href && ctx?.path?.startsWith('/trace/')) history.replaceState(null, '', url);
      if (!span) { detail.hidden = true; return; }
      detail.hidden = false;
      renderSpanDetail(detail, span, trace, {
        selectSpan: (id) => timeline.select(id, { scroll: true }),
        close: () => timeline.select(null),
      });
    },
  });
  timeline.setCritical(cp);
  cpToggle.addEventListener('change', () => timeline.setCritical(cpToggle.checked ? cp : new Set()));
  /** @type {HTMLElement} */ (toolbar.querySelector('#expand-all')).addEventListener('click', () => timeline.expandAll());
  /** @type {HTMLElement} */ (toolbar.querySelector('#collapse-all')).addEventListener('click', () => timeline.collapseAll());

  // Spans with errors carry error=true in Jaeger's model (the translator adds it for OTLP's
  // status ERROR), so finding them is an ordinary find.
  function findErrors() {
    show('timeline');
    findInput.value = 'error=true';
    runFind();
    jump(1);
  }
  // Build find's text index while the user reads, not on the first keystroke.
  if ('requestIdleCallback' in window) requestIdleCallback(() => searchText(trace), { timeout: 3000 });

  // --- find -------------------------------------------------------------------------------------
  /** @type {string[]} */
  let matchList = [];
  let matchAt = -1;
  function runFind() {
    const m = findSpans(trace, findInput.value);
    matchList = trace.spans.filter((s) => m.has(s.spanID)).map((s) => s.spanID);
    matchAt = -1;
    timeline.setMatches(m);
    findCount.textContent = findInput.value.trim() ? `${matchList.length} match${matchList.length === 1 ? '' : 'es'}` : '';
    // Kept in the URL as Jaeger's uiFind, so a shared link highlights the same spans.
    if (ctx?.path?.startsWith('/trace/')) {
      const url = new URL(location.href);
      if (findInput.value.trim()) url.searchParams.set('uiFind', findInput.value.trim());
      else url.searchParams.delete('uiFind');
      if (url.href !== location.href) history.replaceState(null, '', url);
    }
  }
  /** @param {number} delta */
  function jump(delta) {
    if (!matchList.length) return;
    matchAt = (matchAt + delta + matchList.length) % matchList.length;
    timeline.select(matchList[matchAt], { scroll: true });
    findCount.textContent = `${matchAt + 1} of ${matchList.length}`;
  }
  findInput.addEventListener('input', runFind);
  findInput.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter') { ev.preventDefault(); jump(ev.shiftKey ? -1 : 1); }
    if (ev.key === 'Escape') { findInput.value = ''; runFind(); timeline.body.focus(); }
  });
  /** @type {HTMLElement} */ (toolbar.querySelector('#find-next')).addEventListener('click', () => jump(1));
  /** @type {HTMLElement} */ (toolbar.querySelector('#find-prev')).addEventListener('click', () => jump(-1));
  if (findInput.value) runFind();

  // --- keyboard -------------------------------------------------------------------------------
  /** @param {KeyboardEvent} ev */
  function onKey(ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || timelinePane.hidden) return;
    const t = /** @type {HTMLElement} */ (ev.target);
    if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT')) return;
    const sel = timeline.selected ? trace.spanByID.get(timeline.selected) : undefined;
    switch (ev.key) {
      case 'ArrowDown': case 'j': timeline.move(1); break;
      case 'ArrowUp': case 'k': timeline.move(-1); break;
      case 'ArrowRight': case 'l':
        if (sel && sel.children.length) {
          if (timeline.isCollapsed(sel.spanID)) timeline.toggle(sel.spanID);
          else timeline.select(sel.children[0].spanID, { scroll: true });
        }
        break;
      case 'ArrowLeft': case 'h':
        if (sel && sel.children.length && !timeline.isCollapsed(sel.spanID)) timeline.toggle(sel.spanID);
        else if (sel && sel.parentSpanID) timeline.select(sel.parentSpanID, { scroll: true });
        break;
      case 'Enter': case ' ': if (sel) timeline.toggle(sel.spanID); break;
      case 'PageDown': timeline.move(20); break;
      case 'PageUp': timeline.move(-20); break;
      case 'Home': timeline.move(-Infinity); break;
      case 'End': timeline.move(Infinity); break;
      case '/': findInput.focus(); break;
      case 'n': jump(1); break;
      case 'N': jump(-1); break;
      case 'Escape': timeline.select(null); break;
      default: return;
    }
    ev.preventDefault();
  }
  document.addEventListener('keydown', onKey);

  // --- views ----------------------------------------------------------------------------------
  let current = '';
  /** @param {string} view */
  async function show(view) {
    if (!VIEWS.some(([v]) => v === view)) view = 'timeline';
    current = view;
    for (const b of tabs.querySelectorAll('button')) b.setAttribute('aria-selected', String(/** @type {HTMLElement} */ (b).dataset.view === view));
    const url = new URL(location.href);
    if (view === 'timeline') url.searchParams.delete('view');
    else url.searchParams.set('view', view);
    if (url.href !== location.href) history.replaceState(null, '', url);
    timelinePane.hidden = view !== 'timeline';
    altPane.hidden = view === 'timeline';
    if (view === 'timeline') return;
    altPane.replaceChildren(stateBlock('loading', 'Loading view…'));
    try {
      const mod = await import(`../views/${view}.js`);
      if (current !== view) return;
      altPane.replaceChildren();
      mod.render(altPane, trace);
    } catch (e) {
      if (current !== view) return;
      altPane.replaceChildren(stateBlock('error', `The ${view} view is not available`, e instanceof Error ? e.message : String(e)));
    }
  }
  for (const [v, label] of VIEWS) tabs.append(el('button', { type: 'button', role: 'tab', dataset: { view: v }, onclick: () => show(v) }, label));
  show(params.get('view') || 'timeline');

  const wanted = params.get('span');
  if (wanted && trace.spanByID.has(wanted)) timeline.select(wanted, { scroll: true });

  performance.measure('tg-trace-render', { start: t0 });
  requestAnimationFrame(() => performance.measure('tg-trace-render-painted', { start: t0 }));
  return () => {
    document.removeEventListener('keydown', onKey);
    timeline.destroy();
  };
}

/** @param {HTMLElement} root @param {import('../app.js').PageContext} ctx */
export async function mount(root, ctx) {
  const t0 = performance.now();
  const id = decodeURIComponent(ctx.path.slice('/trace/'.length));
  root.replaceChildren(stateBlock('loading', `Loading trace ${id}…`));
  let jt;
  try {
    jt = await ctx.api.getTrace(id);
    performance.measure('tg-trace-fetch', { start: t0 });
  } catch (e) {
    const status = /** @type {any} */ (e).status;
    const title = status === 404 ? `Trace ${id} not found` : status === 0 ? 'The query service cannot be reached' : `Trace ${id} could not be loaded`;
    root.replaceChildren(stateBlock('error', title, status === 404 ? 'It may have expired from the store, or the id is mistyped.' : e instanceof Error ? e.message : String(e)));
    return;
  }
  const unmount = renderTrace(root, jt, ctx);
  performance.measure('tg-trace-open', { start: t0 });
  requestAnimationFrame(() => performance.measure('tg-trace-open-painted', { start: t0 }));
  return unmount;
}
