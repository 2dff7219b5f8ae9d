// @ts-check
/**
 * The raw JSON view: the trace in Jaeger's JSON (the shape `/api/traces/{id}` returns inside
 * `data`, which the upload page reads back), with download and copy. Views get the normalized
 * trace, so the JSON is rebuilt from it: every field the API sent is kept on the spans, and
 * `processID`s are recovered from the shared process objects.
 */

import { downloadText, el, ensureStyle } from '../util.js';

/** @typedef {import('../model.js').Trace} Trace */

/** Above this size the text is shown truncated (the download always has all of it). */
const SHOW_LIMIT = 2_000_000;

/**
 * @param {Trace} trace
 * @returns {{traceID: string, spans: any[], processes: Record<string, any>, warnings: string[] | null}}
 */
export function toJaegerJSON(trace) {
  /** @type {Map<object, string>} */
  const ids = new Map(Object.entries(trace.processes).map(([id, p]) => [p, id]));
  /** @type {Record<string, any>} */
  const processes = {};
  for (const [id, p] of Object.entries(trace.processes)) processes[id] = { serviceName: p.serviceName, tags: p.tags };
  const spans = trace.spans.map((s) => {
    let processID = ids.get(s.process);
    if (!processID) {
      // A span that carried its own process (not in the map) gets one added.
      processID = `p${Object.keys(processes).length + 1}`;
      processes[processID] = { serviceName: s.process.serviceName, tags: s.process.tags };
      ids.set(s.process, processID);
    }
    return {
      traceID: s.traceID, spanID: s.spanID, operationName: s.operationName, references: s.references,
      startTime: s.startTime, duration: s.duration, tags: s.tags, logs: s.logs, processID,
      warnings: s.warnings.length ? s.warnings : null,
    };
  });
  return { traceID: trace.traceID, spans, processes, warnings: trace.warnings.length ? trace.warnings : null };
}

/**
 * @param {HTMLElement} container
 * @param {Trace} trace
 */
export function render(container, trace) {
  ensureStyle('static/views/views.css');
  const doc = toJaegerJSON(trace);
  // The download is an `/api/traces` answer, so the upload page (and Jaeger's) open it as is.
  const file = () => JSON.stringify({ data: [doc], total: 0, limit: 0, offset: 0, errors: null }, null, 2);
  const text = JSON.stringify(doc, null, 2);
  const status = el('span', { class: 'muted' });
  const pre = el('pre', { class: 'tv-json mono', tabindex: '0' });
  pre.textContent = text.length > SHOW_LIMIT ? text.slice(0, SHOW_LIMIT) + '\n… (truncated here; the download has everything)' : text;
  container.replaceChildren(el('div', { class: 'tv-json-view' },
    el('div', { class: 'tv-toolbar' },
      el('button', { class: 'btn primary tv-json-download', type: 'button', onclick: () => downloadText(`trace-${trace.traceID}.json`, file()) }, 'Download JSON'),
      el('button', {
        class: 'btn', type: 'button',
        onclick: async () => {
          try {
            await navigator.clipboard.writeText(text);
            status.textContent = 'Copied.';
          } catch {
            status.textContent = 'The browser refused the clipboard; use the download.';
          }
        },
      }, 'Copy'),
      el('span', { class: 'muted' }, `${trace.spans.length} spans, ${(text.length / 1024).toFixed(1)} KiB`),
      status),
    pre));
}
