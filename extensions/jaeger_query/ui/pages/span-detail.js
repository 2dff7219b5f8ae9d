// @ts-check
/**
 * The selected span's detail: what it is (service, operation, kind, times), its tags, the
 * process (resource) it ran in, its logs with times relative to the trace, its references
 * (a span in this trace is selected on click; another trace opens), and warnings.
 */

import { el, formatDuration, formatTime } from '../util.js';
import { appHref } from '../app.js';

/** @typedef {import('../model.js').Trace} Trace @typedef {import('../model.js').Span} Span */

/** @param {any} v */
function show(v) {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/**
 * @param {string} title
 * @param {{key: string, value: any}[]} kvs
 * @param {string} cls
 */
function kvSection(title, kvs, cls) {
  return el('details', { class: `sd-section ${cls}`, open: true },
    el('summary', {}, `${title} (${kvs.length})`),
    kvs.length
      ? el('table', { class: 'data kv' }, el('tbody', {}, ...kvs.map((t) => el('tr', { dataset: { key: t.key } }, el('td', { class: 'k mono' }, t.key), el('td', { class: 'v mono' }, show(t.value))))))
      : el('div', { class: 'muted' }, 'none'));
}

/**
 * @param {HTMLElement} container
 * @param {Span} span
 * @param {Trace} trace
 * @param {{selectSpan: (id: string) => void, close: () => void}} actions
 */
export function renderSpanDetail(container, span, trace, actions) {
  const rel = (/** @type {number} */ t) => formatDuration(t - trace.startTime);
  const logs = span.logs.slice().sort((a, b) => a.timestamp - b.timestamp);
  const parts = [
    el('div', { class: 'sd-head' },
      el('div', { class: 'sd-title' }, el('strong', {}, span.operationName), el('button', { class: 'btn ghost sd-close', type: 'button', title: 'Close (Esc)', onclick: actions.close }, '✕')),
      el('div', { class: 'sd-meta' },
        el('span', {}, el('span', { class: 'muted' }, 'Service: '), span.serviceName),
        el('span', {}, el('span', { class: 'muted' }, 'Duration: '), formatDuration(span.duration)),
        el('span', {}, el('span', { class: 'muted' }, 'Start: '), `${rel(span.startTime)}`),
        span.kind ? el('span', {}, el('span', { class: 'muted' }, 'Kind: '), span.kind) : null),
      el('div', { class: 'sd-meta mono muted' }, `span ${span.spanID} · ${formatTime(span.startTime)}`),
      span.hasError ? el('div', { class: 'error-text' }, 'This span has an error.') : null),
    kvSection('Tags', span.tags, 'sd-tags'),
    kvSection(`Process: ${span.process.serviceName}`, span.process.tags, 'sd-process'),
    el('details', { class: 'sd-section sd-logs', open: true },
      el('summary', {}, `Logs (${logs.length})`),
      logs.length
        ? el('div', {}, ...logs.map((l) => el('div', { class: 'sd-log' },
          el('div', { class: 'sd-log-time mono' }, `+${rel(l.timestamp)}`, el('span', { class: 'muted' }, ` (${formatDuration(l.timestamp - span.startTime)} into the span)`)),
          el('table', { class: 'data kv' }, el('tbody', {}, ...(l.fields || []).map((f) => el('tr', {}, el('td', { class: 'k mono' }, f.key), el('td', { class: 'v mono' }, show(f.value)))))))))
        : el('div', { class: 'muted' }, 'none')),
    el('details', { class: 'sd-section sd-refs', open: true },
      el('summary', {}, `References (${span.references.length})`),
      span.references.length
        ? el('ul', { class: 'sd-ref-list' }, ...span.references.map((r) => {
          const local = r.traceID === trace.traceID && trace.spanByID.get(r.spanID);
          const label = local ? `${local.serviceName}: ${local.operationName}` : `span ${r.spanID} in trace ${r.traceID}`;
          return el('li', {}, el('span', { class: 'muted' }, `${r.refType} `),
            local
              ? el('a', { href: '#', class: 'sd-ref', dataset: { spanId: r.spanID }, onclick: (/** @type {Event} */ ev) => { ev.preventDefault(); actions.selectSpan(r.spanID); } }, label)
              : el('a', { class: 'sd-ref', href: appHref(`/trace/${r.traceID}?span=${r.spanID}`) }, label));
        }))
        : el('div', { class: 'muted' }, 'none')),
    span.warnings.length
      ? el('details', { class: 'sd-section sd-warnings', open: true }, el('summary', {}, `Warnings (${span.warnings.length})`), el('ul', {}, ...span.warnings.map((w) => el('li', { class: 'warn' }, w))))
      : null,
  ];
  // replaceChildren would print a null as the text "null".
  container.replaceChildren(...parts.filter((p) => p !== null));
}
