// @ts-check
/**
 * The upload page: open a trace from a file (Jaeger JSON or OTLP JSON, see `upload/parse.js`)
 * by choosing it, dropping it, or pasting its text, and view it with the trace page's own
 * renderer. The file never leaves the browser; nothing is stored. A file with several traces
 * lists them to pick from.
 */

import { normalizeTrace } from '../model.js';
import { parseTraceFile } from '../upload/parse.js';
import { el, ensureStyle, formatDuration, stateBlock } from '../util.js';

/**
 * @param {HTMLElement} root
 * @param {import('../app.js').PageContext} ctx
 */
export async function mount(root, ctx) {
  ensureStyle('static/views/views.css');
  /** @type {(() => void) | void} */
  let unmountTrace;
  const clearTrace = () => {
    if (typeof unmountTrace === 'function') { try { unmountTrace(); } catch (e) { console.error(e); } }
    unmountTrace = undefined;
  };
  const status = el('div', { class: 'up-status' });
  const list = el('div', { class: 'up-list' });
  const view = el('div', { class: 'up-trace' });

  const input = /** @type {HTMLInputElement} */ (el('input', {
    type: 'file', accept: '.json,application/json', id: 'up-file', 'aria-label': 'Trace file',
    onchange: () => { const f = input.files?.[0]; if (f) readFile(f); },
  }));
  const paste = /** @type {HTMLTextAreaElement} */ (el('textarea', { rows: 4, placeholder: '…or paste Jaeger or OTLP JSON here', class: 'mono', style: { width: '100%' }, 'aria-label': 'Trace JSON' }));
  const drop = el('div', { class: 'up-drop' },
    el('div', { class: 'state-title' }, 'Drop a trace file here'),
    el('p', { class: 'muted' }, 'Jaeger JSON (as /api/traces or Jaeger\'s "Download JSON" saves it) or OTLP JSON ({"resourceSpans": …}). The file stays in your browser; nothing is stored.'),
    input);
  for (const ev of ['dragenter', 'dragover']) drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add('up-over'); });
  for (const ev of ['dragleave', 'drop']) drop.addEventListener(ev, () => drop.classList.remove('up-over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    const f = /** @type {DragEvent} */ (e).dataTransfer?.files?.[0];
    if (f) readFile(f);
  });

  root.replaceChildren(el('div', { class: 'pg' },
    el('h1', {}, 'Open a trace from a file'), drop,
    el('div', {}, paste, el('button', { class: 'btn', type: 'button', onclick: () => show(paste.value, 'pasted text') }, 'Open pasted JSON')),
    status, list, view));

  /** @param {File} file */
  async function readFile(file) {
    status.replaceChildren(stateBlock('loading', `Reading ${file.name}…`));
    try {
      show(await file.text(), file.name);
    } catch (e) {
      status.replaceChildren(stateBlock('error', `${file.name} could not be read`, e instanceof Error ? e.message : String(e)));
    }
  }

  /** @param {string} text @param {string} name */
  function show(text, name) {
    clearTrace();
    list.replaceChildren();
    view.replaceChildren();
    /** @type {any[]} */
    let traces;
    try {
      traces = parseTraceFile(text);
    } catch (e) {
      status.replaceChildren(stateBlock('error', `${name} is not a trace file`, e instanceof Error ? e.message : String(e)));
      return;
    }
    status.replaceChildren(el('div', { class: 'muted up-summary' }, `${name}: ${traces.length} trace${traces.length === 1 ? '' : 's'} (not stored).`));
    if (traces.length === 1) { open(traces[0]); return; }
    const buttons = traces.map((jt) => {
      const t = normalizeTrace(jt);
      const r = t.roots[0];
      return el('button', {
        class: 'btn', type: 'button', 'aria-pressed': 'false', dataset: { traceId: t.traceID },
        onclick: (/** @type {Event} */ e) => {
          for (const b of buttons) b.setAttribute('aria-pressed', String(b === e.currentTarget));
          open(jt);
        },
      }, el('strong', {}, r ? `${r.serviceName}: ${r.operationName}` : '(no root)'), ` · ${t.spans.length} spans · ${formatDuration(t.duration)} · `, el('span', { class: 'mono' }, t.traceID));
    });
    list.replaceChildren(el('div', { class: 'muted' }, 'Pick a trace:'), ...buttons);
  }

  /** @param {any} jt */
  async function open(jt) {
    clearTrace();
    view.replaceChildren(stateBlock('loading', 'Rendering…'));
    try {
      const { renderTrace } = await import('./trace.js');
      view.replaceChildren();
      unmountTrace = renderTrace(view, jt, ctx);
    } catch (e) {
      view.replaceChildren(stateBlock('error', 'The trace could not be shown', e instanceof Error ? e.message : String(e)));
    }
  }
  return clearTrace;
}
