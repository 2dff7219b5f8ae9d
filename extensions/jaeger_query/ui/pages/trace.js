// @ts-check
/** The trace page: placeholder until the timeline lands (contract: mount + renderTrace). */
import { normalizeTrace } from '../model.js';
import { el, stateBlock } from '../util.js';

/**
 * Shows a trace that is already loaded (the upload page uses this for traces not stored).
 * @param {HTMLElement} root
 * @param {any} jaegerTrace
 * @param {import('../app.js').PageContext} ctx
 * @returns {() => void} unmount
 */
export function renderTrace(root, jaegerTrace, ctx) {
  const trace = normalizeTrace(jaegerTrace);
  root.replaceChildren(el('div', { class: 'trace-page' }, el('h2', { text: `${trace.traceID} (${trace.spans.length} spans)` })));
  void ctx;
  return () => {};
}

/** @param {HTMLElement} root @param {import('../app.js').PageContext} ctx */
export async function mount(root, ctx) {
  const id = decodeURIComponent(ctx.path.slice('/trace/'.length));
  root.replaceChildren(stateBlock('loading', `Loading trace ${id}…`));
  try {
    const jt = await ctx.api.getTrace(id);
    return renderTrace(root, jt, ctx);
  } catch (e) {
    root.replaceChildren(stateBlock('error', `Trace ${id} could not be shown`, e instanceof Error ? e.message : String(e)));
  }
}
