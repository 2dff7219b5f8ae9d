// @ts-check
/**
 * Live tail for the search page: a toggle that opens an EventSource on
 * `api/live/traces?<the search's params>` (relative, so a base_path works) and hands newly
 * stored matching traces to the page, a rate indicator (traces per second over the last ten
 * seconds) and a pause. Arrivals are delivered in batches at most four times a second, so a
 * burst costs the page one re-render, not hundreds. While paused the stream stays open and
 * arrivals wait (the newest 1,000); resuming delivers them. The server sends a trace again
 * when it grows, so the page should merge by trace id. A stream the server refuses reports an
 * Error with `status` (the HTTP status; 404 when the server has no live tail, e.g. a real
 * Jaeger).
 */

import { el, ensureStyle } from '../util.js';

const FLUSH_MS = 250;
const RATE_WINDOW_MS = 10_000;
const MAX_WAITING = 1000;

/**
 * @param {{params: URLSearchParams | Record<string, any>, onTraces: (traces: any[]) => void, onError?: (e: Error) => void}} opts
 * @returns {{element: HTMLElement, stop: () => void}}
 */
export function createLiveTail({ params, onTraces, onError }) {
  ensureStyle('static/views/views.css');
  const qs = new URLSearchParams(params instanceof URLSearchParams ? params : Object.entries(params || {}).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).filter((x) => x !== undefined && x !== null && x !== '').map((x) => [k, String(x)])));
  // The window follows "now" on the server; a fixed range or lookback means nothing here.
  for (const k of ['start', 'end', 'lookback', 'traceID']) qs.delete(k);

  /** @type {EventSource | null} */
  let es = null;
  let paused = false;
  /** @type {any[]} */
  let waiting = [];
  /** @type {number[]} */
  let arrivals = [];
  let received = 0;
  /** @type {ReturnType<typeof setInterval> | null} */
  let timer = null;
  let lastRateAt = 0;

  const toggle = el('button', { class: 'btn live-toggle', type: 'button', 'aria-pressed': 'false', title: 'Stream newly stored matching traces into the results' }, el('span', { class: 'live-dot' }), ' Live');
  const pause = el('button', { class: 'btn live-pause', type: 'button', 'aria-pressed': 'false', disabled: true }, 'Pause');
  const rate = el('span', { class: 'live-rate', 'aria-live': 'off' }, '');
  const element = el('span', { class: 'live', dataset: { state: 'off', received: '0' } }, toggle, pause, rate);

  /** @param {'off' | 'connecting' | 'live' | 'paused' | 'reconnecting' | 'error'} state @param {string} [why] */
  const setState = (state, why) => {
    element.dataset.state = state;
    element.title = why || { off: 'Live tail is off', connecting: 'Connecting…', live: 'Streaming new traces', paused: 'Paused: new traces wait', reconnecting: 'Connection lost; reconnecting…', error: 'Live tail stopped' }[state];
  };

  const drawRate = () => {
    const now = Date.now();
    arrivals = arrivals.filter((t) => now - t < RATE_WINDOW_MS);
    const span = Math.min(RATE_WINDOW_MS, Math.max(1000, now - lastRateAt));
    rate.textContent = es ? `${((arrivals.length * 1000) / span).toFixed(1)} traces/s${waiting.length && paused ? ` · ${waiting.length} waiting` : ''}` : '';
    element.dataset.received = String(received);
  };

  const flush = () => {
    if (!paused && waiting.length) {
      const batch = waiting;
      waiting = [];
      try { onTraces(batch); } catch (e) { console.error(e); }
    }
    drawRate();
  };

  /** @param {Error} e */
  const fail = (e) => { if (onError) onError(e); else console.error(e); };

  const start = () => {
    const url = `api/live/traces?${qs}`;
    es = new EventSource(url);
    lastRateAt = Date.now();
    setState('connecting');
    toggle.setAttribute('aria-pressed', 'true');
    pause.removeAttribute('disabled');
    es.addEventListener('ready', () => setState(paused ? 'paused' : 'live'));
    es.addEventListener('message', (ev) => {
      let t;
      try { t = JSON.parse(/** @type {MessageEvent} */ (ev).data); } catch { return; }
      received++;
      arrivals.push(Date.now());
      waiting.push(t);
      if (waiting.length > MAX_WAITING) waiting.splice(0, waiting.length - MAX_WAITING);
    });
    es.addEventListener('problem', (ev) => fail(new Error(`live tail: ${/** @type {MessageEvent} */ (ev).data}`)));
    es.addEventListener('open', () => { if (element.dataset.state === 'reconnecting') setState(paused ? 'paused' : 'live'); });
    es.addEventListener('error', async () => {
      const source = es;
      if (!source) return;
      if (source.readyState !== EventSource.CLOSED) { setState('reconnecting'); return; }
      // Closed for good: the server refused (a bad search, too many tails) or has no live tail
      // (a real Jaeger). Ask it why; the error carries the HTTP status so the page can tell.
      stopStream();
      let msg = 'the live tail could not be opened';
      let status = 0;
      const abort = new AbortController();
      try {
        const resp = await fetch(new URL(url, document.baseURI), { headers: { Accept: 'application/json' }, signal: abort.signal });
        status = resp.status;
        const type = resp.headers.get('content-type') || '';
        if (type.includes('text/event-stream')) {
          abort.abort();
          msg = 'the live stream closed';
        } else if (resp.ok) {
          abort.abort();
          status = 404;
          msg = 'this query service has no live tail';
        } else {
          const text = await resp.text();
          try { msg = JSON.parse(text)?.errors?.[0]?.msg || msg; } catch { msg = text.trim().slice(0, 300) || msg; }
        }
      } catch { msg = 'the query service cannot be reached'; }
      setState('error', msg);
      fail(Object.assign(new Error(`Live tail stopped: ${msg}`), { status }));
    });
    timer = setInterval(flush, FLUSH_MS);
  };

  const stopStream = () => {
    if (es) es.close();
    es = null;
    if (timer) clearInterval(timer);
    timer = null;
    waiting = [];
    arrivals = [];
    paused = false;
    toggle.setAttribute('aria-pressed', 'false');
    pause.setAttribute('aria-pressed', 'false');
    pause.textContent = 'Pause';
    pause.setAttribute('disabled', '');
    rate.textContent = '';
    setState('off');
  };

  toggle.addEventListener('click', () => (es ? stopStream() : start()));
  pause.addEventListener('click', () => {
    paused = !paused;
    pause.setAttribute('aria-pressed', String(paused));
    pause.textContent = paused ? 'Resume' : 'Pause';
    setState(paused ? 'paused' : 'live');
    flush();
  });
  setState('off');
  return { element, stop: stopStream };
}
