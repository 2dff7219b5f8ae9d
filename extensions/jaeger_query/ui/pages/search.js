// @ts-check
/**
 * The search page: the form (service and operation from the API, logfmt tags, lookback or a
 * custom range, min/max duration, limit; trace ids from the bar's lookup) drives the URL, and the URL drives the
 * search, so every search is a link a person can share and back/forward replay it. The results
 * (plot, list, compare picks, live tail) are `results.js`.
 */

import { el, stateBlock } from '../util.js';
import { showResults } from './results.js';

export const LOOKBACKS = [['5m', 'Last 5 minutes'], ['15m', 'Last 15 minutes'], ['30m', 'Last 30 minutes'], ['1h', 'Last hour'], ['2h', 'Last 2 hours'], ['6h', 'Last 6 hours'], ['12h', 'Last 12 hours'], ['1d', 'Last 24 hours'], ['2d', 'Last 2 days'], ['7d', 'Last 7 days'], ['custom', 'Custom range']];
const ALL = '__all__';

/**
 * `error=true http.status_code=500 msg="a b"` -> `{error: 'true', ...}`. Throws on a term
 * without `=`.
 * @param {string} text
 * @returns {Record<string, string>}
 */
export function parseLogfmt(text) {
  /** @type {Record<string, string>} */
  const out = {};
  const re = /\s*([^\s=]+)=("((?:[^"\\]|\\.)*)"|\S*)|\s*(\S+)/g;
  for (const m of text.matchAll(re)) {
    if (m[4] !== undefined) throw new Error(`"${m[4]}" is not key=value`);
    out[m[1]] = m[3] !== undefined ? m[3].replace(/\\(.)/g, '$1') : m[2];
  }
  return out;
}

/** @param {Record<string, string>} tags */
export function toLogfmt(tags) {
  return Object.entries(tags).map(([k, v]) => (/[\s"]/.test(v) || v === '' ? `${k}="${v.replace(/(["\\])/g, '\\$1')}"` : `${k}=${v}`)).join(' ');
}

/** @param {string} s lookback like `15m`, `2h`, `7d` @returns {number} milliseconds */
export function lookbackMs(s) {
  const m = /^(\d+)([smhd])$/.exec(s || '');
  if (!m) return 3600e3;
  return Number(m[1]) * { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[/** @type {'s'|'m'|'h'|'d'} */ (m[2])];
}

/**
 * The `/api/traces` parameters for a page URL's parameters.
 * @param {URLSearchParams} p
 * @returns {URLSearchParams}
 */
export function apiParams(p) {
  const q = new URLSearchParams();
  const ids = p.getAll('traceID');
  if (ids.length) {
    for (const id of ids) q.append('traceID', id);
    return q;
  }
  for (const k of ['service', 'operation', 'minDuration', 'maxDuration']) {
    const v = p.get(k);
    if (v) q.set(k, v);
  }
  const tags = p.get('tags');
  if (tags) q.set('tags', tags.trim().startsWith('{') ? tags : JSON.stringify(parseLogfmt(tags)));
  const lookback = p.get('lookback') || '1h';
  if (lookback === 'custom') {
    if (p.get('start')) q.set('start', /** @type {string} */ (p.get('start')));
    if (p.get('end')) q.set('end', /** @type {string} */ (p.get('end')));
  } else {
    const end = Date.now() * 1000;
    q.set('end', String(end));
    q.set('start', String(end - lookbackMs(lookback) * 1000));
  }
  q.set('limit', p.get('limit') || '20');
  return q;
}

/** Services are cached briefly: every search re-mounts the page. */
let servicesCache = /** @type {{at: number, list: Promise<string[]>} | null} */ (null);

/** @param {number} us @returns {string} a datetime-local value */
function toLocalInput(us) {
  const d = new Date(us / 1000 - new Date().getTimezoneOffset() * 60e3);
  return d.toISOString().slice(0, 19);
}

/**
 * @param {HTMLElement} root
 * @param {import('../app.js').PageContext} ctx
 */
export async function mount(root, ctx) {
  const p = ctx.params;
  const form = /** @type {HTMLFormElement} */ (el('form', { class: 'search-form panel', autocomplete: 'off' }));
  const results = el('section', { class: 'search-results' });
  root.append(el('div', { class: 'search-page' }, el('aside', { class: 'search-side' }, form), results));

  const service = /** @type {HTMLSelectElement} */ (el('select', { name: 'service', id: 'search-service', required: true }));
  const operation = /** @type {HTMLSelectElement} */ (el('select', { name: 'operation', id: 'search-operation' }, el('option', { value: ALL }, 'All operations')));
  let tagsText = '';
  try {
    const raw = p.get('tags') || '';
    tagsText = raw.trim().startsWith('{') ? toLogfmt(JSON.parse(raw)) : raw;
  } catch {
    tagsText = p.get('tags') || '';
  }
  const tags = /** @type {HTMLInputElement} */ (el('input', { name: 'tags', id: 'search-tags', placeholder: 'error=true http.status_code=500', value: tagsText }));
  const tagsError = el('div', { class: 'field-error error-text', role: 'alert' });
  const lookback = /** @type {HTMLSelectElement} */ (el('select', { name: 'lookback', id: 'search-lookback' }, ...LOOKBACKS.map(([v, t]) => el('option', { value: v }, t))));
  lookback.value = p.get('lookback') || '1h';
  const nowUs = Date.now() * 1000;
  const start = /** @type {HTMLInputElement} */ (el('input', { type: 'datetime-local', step: '1', name: 'start', id: 'search-start', value: toLocalInput(Number(p.get('start')) || nowUs - 3600e6) }));
  const end = /** @type {HTMLInputElement} */ (el('input', { type: 'datetime-local', step: '1', name: 'end', id: 'search-end', value: toLocalInput(Number(p.get('end')) || nowUs) }));
  const custom = el('div', { class: 'custom-range' }, el('label', {}, 'Start', start), el('label', {}, 'End', end));
  const showCustom = () => { custom.hidden = lookback.value !== 'custom'; };
  lookback.addEventListener('change', showCustom);
  showCustom();
  const minD = /** @type {HTMLInputElement} */ (el('input', { name: 'minDuration', id: 'search-min', placeholder: 'e.g. 1.2s, 100ms', value: p.get('minDuration') || '' }));
  const maxD = /** @type {HTMLInputElement} */ (el('input', { name: 'maxDuration', id: 'search-max', placeholder: 'e.g. 1.1s', value: p.get('maxDuration') || '' }));
  const limit = /** @type {HTMLInputElement} */ (el('input', { type: 'number', min: '1', max: '10000', name: 'limit', id: 'search-limit', value: p.get('limit') || '20' }));
  const submit = /** @type {HTMLButtonElement} */ (el('button', { type: 'submit', class: 'btn primary', id: 'search-submit' }, 'Find Traces'));
  const servicesState = el('div', { class: 'services-state' });
  form.append(
    el('h3', { text: 'Search' }),
    servicesState,
    el('label', {}, 'Service', service),
    el('label', {}, 'Operation', operation),
    el('label', {}, 'Tags (logfmt)', tags), tagsError,
    el('label', {}, 'Lookback', lookback), custom,
    el('div', { class: 'row2' }, el('label', {}, 'Min duration', minD), el('label', {}, 'Max duration', maxD)),
    el('label', {}, 'Limit results', limit),
    submit,
  );

  /** @param {string} svc */
  async function loadOperations(svc) {
    operation.replaceChildren(el('option', { value: ALL }, 'All operations'));
    if (!svc) return;
    try {
      for (const op of await ctx.api.getOperations(svc)) operation.append(el('option', { value: op }, op));
    } catch (e) {
      operation.append(el('option', { value: ALL, disabled: true }, `(operations unavailable: ${e instanceof Error ? e.message : e})`));
    }
    const wanted = p.get('service') === svc ? p.get('operation') : null;
    if (wanted) {
      if (![...operation.options].some((o) => o.value === wanted)) operation.append(el('option', { value: wanted }, wanted));
      operation.value = wanted;
    }
  }
  service.addEventListener('change', () => loadOperations(service.value));

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    tagsError.textContent = '';
    /** @type {URLSearchParams} */
    const q = new URLSearchParams();
    if (!service.value) {
      tagsError.textContent = 'Pick a service first.';
      return;
    }
    q.set('service', service.value);
    if (operation.value && operation.value !== ALL) q.set('operation', operation.value);
    if (tags.value.trim()) {
      try {
        q.set('tags', JSON.stringify(parseLogfmt(tags.value.trim())));
      } catch (e) {
        tagsError.textContent = `Tags: ${e instanceof Error ? e.message : e}`;
        return;
      }
    }
    q.set('lookback', lookback.value);
    if (lookback.value === 'custom') {
      const s = Date.parse(start.value) * 1000;
      const en = Date.parse(end.value) * 1000;
      if (!Number.isFinite(s) || !Number.isFinite(en) || en <= s) {
        tagsError.textContent = 'The custom range needs a start before its end.';
        return;
      }
      q.set('start', String(s));
      q.set('end', String(en));
    }
    if (minD.value.trim()) q.set('minDuration', minD.value.trim());
    if (maxD.value.trim()) q.set('maxDuration', maxD.value.trim());
    q.set('limit', limit.value || '20');
    ctx.navigate(`/search?${q}`);
  });

  // Services: an empty store and a server that is down are different states, both visible.
  if (!servicesCache || Date.now() - servicesCache.at > 10_000) servicesCache = { at: Date.now(), list: ctx.api.getServices() };
  const cached = servicesCache;
  servicesCache.list.catch(() => { if (servicesCache === cached) servicesCache = null; });
  let services = /** @type {string[]} */ ([]);
  try {
    services = await servicesCache.list;
  } catch (e) {
    servicesState.replaceChildren(el('div', { class: 'error-text' }, `Services could not be loaded: ${e instanceof Error ? e.message : e}`));
  }
  service.append(el('option', { value: '' }, services.length ? 'Choose a service' : 'No services yet'));
  for (const s of services) service.append(el('option', { value: s }, s));
  const wantedService = p.get('service');
  if (wantedService && !services.includes(wantedService)) service.append(el('option', { value: wantedService }, wantedService));
  service.value = wantedService || (services.length === 1 ? services[0] : '');
  await loadOperations(service.value);

  const searching = p.get('service') || p.getAll('traceID').length;
  if (!searching) {
    if (!services.length && !servicesState.childElementCount) {
      results.replaceChildren(stateBlock('empty', 'No services yet', 'No trace has been stored yet. Send spans to one of the gateway\'s receivers (OTLP, Jaeger, Zipkin) and they appear here.'));
    } else if (!servicesState.childElementCount) {
      results.replaceChildren(stateBlock('empty', 'Find traces', 'Pick a service and press Find Traces, or open a trace by its id.'));
    } else {
      results.replaceChildren(stateBlock('error', 'The query service cannot be reached', servicesState.textContent || ''));
    }
    return;
  }
  return showResults(results, ctx, apiParams);
}

