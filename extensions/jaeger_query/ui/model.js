// @ts-check
/**
 * One shape of a trace for every view: Jaeger's JSON (as `/api/traces` returns it) turned into
 * a tree with parents, children, depths and times relative to the trace, computed once when a
 * trace opens so views never walk references themselves. Everything is iterative (no
 * recursion), so a 10,000-span chain cannot overflow the stack, and malformed input (missing
 * parents, cycles, duplicate ids) becomes warnings, never an exception.
 */

/**
 * @typedef {{key: string, type?: string, value: any}} KeyValue
 * @typedef {{timestamp: number, fields: KeyValue[]}} Log
 * @typedef {{refType: string, traceID: string, spanID: string}} Reference
 * @typedef {{serviceName: string, tags: KeyValue[]}} Process
 * @typedef {{
 *   spanID: string, traceID: string, parentSpanID: string | null, children: Span[], depth: number,
 *   operationName: string, serviceName: string, process: Process, startTime: number,
 *   duration: number, relativeStart: number, tags: KeyValue[], logs: Log[],
 *   references: Reference[], warnings: string[], hasError: boolean, kind: string
 * }} Span
 * @typedef {{
 *   traceID: string, spans: Span[], spanByID: Map<string, Span>, roots: Span[],
 *   processes: Record<string, Process>, services: string[], startTime: number, endTime: number,
 *   duration: number, depth: number, errorCount: number, warnings: string[]
 * }} Trace
 */

/**
 * @param {KeyValue[]} tags
 * @param {string} key
 */
export function tagValue(tags, key) {
  for (const t of tags) if (t.key === key) return t.value;
  return undefined;
}

/** @param {KeyValue[]} tags */
function isError(tags) {
  const e = tagValue(tags, 'error');
  if (e === true || e === 'true') return true;
  const s = tagValue(tags, 'otel.status_code');
  return s === 'ERROR';
}

/**
 * Builds the tree. Spans come out in depth-first order (children by start time), the order the
 * timeline shows them in.
 * @param {any} jt a Jaeger trace `{traceID, spans, processes, warnings}`
 * @returns {Trace}
 */
export function normalizeTrace(jt) {
  /** @type {string[]} */
  const warnings = Array.isArray(jt?.warnings) ? jt.warnings.map(String) : [];
  /** @type {Record<string, Process>} */
  const processes = {};
  for (const [id, p] of Object.entries(jt?.processes || {})) {
    processes[id] = { serviceName: String(p?.serviceName ?? 'unknown'), tags: Array.isArray(p?.tags) ? p.tags : [] };
  }
  /** @type {Map<string, Span>} */
  const spanByID = new Map();
  /** @type {Span[]} */
  const raw = [];
  for (const s of Array.isArray(jt?.spans) ? jt.spans : []) {
    const spanID = String(s?.spanID ?? '');
    if (!spanID || spanByID.has(spanID)) {
      warnings.push(`span ${spanID || '(no id)'} appears more than once; later copies are ignored`);
      continue;
    }
    const process = processes[s.processID] || (s.process ? { serviceName: String(s.process.serviceName ?? 'unknown'), tags: s.process.tags || [] } : { serviceName: 'unknown', tags: [] });
    const tags = Array.isArray(s.tags) ? s.tags : [];
    /** @type {Span} */
    const span = {
      spanID,
      traceID: String(s.traceID ?? jt?.traceID ?? ''),
      parentSpanID: null,
      children: [],
      depth: 0,
      operationName: String(s.operationName ?? ''),
      serviceName: process.serviceName,
      process,
      startTime: Number(s.startTime) || 0,
      duration: Math.max(0, Number(s.duration) || 0),
      relativeStart: 0,
      tags,
      logs: Array.isArray(s.logs) ? s.logs : [],
      references: Array.isArray(s.references) ? s.references : [],
      warnings: Array.isArray(s.warnings) ? s.warnings.map(String) : [],
      hasError: isError(tags),
      kind: String(tagValue(tags, 'span.kind') ?? ''),
    };
    spanByID.set(spanID, span);
    raw.push(span);
  }

  let startTime = Infinity;
  let endTime = -Infinity;
  for (const span of raw) {
    startTime = Math.min(startTime, span.startTime);
    endTime = Math.max(endTime, span.startTime + span.duration);
    // CHILD_OF wins over FOLLOWS_FROM, as in Jaeger's UI; a parent outside the trace makes the
    // span a root of its own (with a warning), since nothing can be drawn above it.
    const refs = span.references.filter((r) => r && r.spanID && r.spanID !== span.spanID);
    const ref = refs.find((r) => r.refType === 'CHILD_OF') || refs.find((r) => r.refType === 'FOLLOWS_FROM');
    if (ref) {
      if (spanByID.has(ref.spanID)) span.parentSpanID = ref.spanID;
      else span.warnings.push(`parent span ${ref.spanID} is not in this trace`);
    }
  }
  if (!raw.length) { startTime = 0; endTime = 0; }

  // Break cycles: walk up from each span; a span that meets itself loses its parent.
  /** @type {Map<string, number>} 0 unknown, 1 on the current walk, 2 known to reach a root */
  const state = new Map();
  for (const span of raw) {
    /** @type {Span[]} */
    const walk = [];
    let cur = /** @type {Span | undefined} */ (span);
    while (cur && !state.get(cur.spanID)) {
      state.set(cur.spanID, 1);
      walk.push(cur);
      cur = cur.parentSpanID ? spanByID.get(cur.parentSpanID) : undefined;
    }
    if (cur && state.get(cur.spanID) === 1) {
      cur.warnings.push(`references form a cycle through parent ${cur.parentSpanID}; shown as a root`);
      cur.parentSpanID = null;
    }
    for (const w of walk) state.set(w.spanID, 2);
  }

  /** @type {Span[]} */
  const roots = [];
  for (const span of raw) {
    span.relativeStart = span.startTime - startTime;
    const parent = span.parentSpanID ? spanByID.get(span.parentSpanID) : undefined;
    if (parent) parent.children.push(span);
    else roots.push(span);
  }
  const byStart = (/** @type {Span} */ a, /** @type {Span} */ b) => a.startTime - b.startTime || a.spanID.localeCompare(b.spanID);
  roots.sort(byStart);

  /** @type {Span[]} */
  const spans = [];
  let depth = 0;
  let errorCount = 0;
  /** @type {Span[]} */
  const stack = roots.slice().reverse();
  while (stack.length) {
    const span = /** @type {Span} */ (stack.pop());
    spans.push(span);
    depth = Math.max(depth, span.depth + 1);
    if (span.hasError) errorCount++;
    span.children.sort(byStart);
    for (let i = span.children.length - 1; i >= 0; i--) {
      span.children[i].depth = span.depth + 1;
      stack.push(span.children[i]);
    }
  }
  const services = [...new Set(spans.map((s) => s.serviceName))].sort();
  return {
    traceID: String(jt?.traceID ?? spans[0]?.traceID ?? ''),
    spans, spanByID, roots, processes, services,
    startTime, endTime, duration: endTime - startTime, depth, errorCount, warnings,
  };
}

/**
 * The critical path: the chain of work that decided when the trace ended. From the root, walk
 * back from its end: the child that finished last (before the cursor) was being waited on;
 * recurse into it, move the cursor to that child's start, and take the next child that
 * finished before it. A child's part of the walk does not depend on its descendants' results,
 * so an explicit stack replaces recursion.
 * @param {Trace} trace
 * @returns {Set<string>} span ids on the path
 */
export function criticalPath(trace) {
  /** @type {Set<string>} */
  const path = new Set();
  if (!trace.roots.length) return path;
  // The root that ends last carries the trace's end.
  let root = trace.roots[0];
  for (const r of trace.roots) if (r.startTime + r.duration > root.startTime + root.duration) root = r;
  /** @type {[Span, number][]} */
  const stack = [[root, root.startTime + root.duration]];
  while (stack.length) {
    const [span, limit] = /** @type {[Span, number]} */ (stack.pop());
    path.add(span.spanID);
    let cursor = Math.min(limit, span.startTime + span.duration);
    const children = span.children.slice().sort((a, b) => (b.startTime + b.duration) - (a.startTime + a.duration));
    for (const child of children) {
      if (cursor <= span.startTime) break;
      if (child.startTime >= cursor) continue;
      const end = child.startTime + child.duration;
      // A child still running at the cursor, or the last to finish before it, was waited on.
      stack.push([child, Math.min(end, cursor)]);
      cursor = child.startTime;
    }
  }
  return path;
}

/**
 * @typedef {{
 *   traceID: string, rootService: string, rootOperation: string, spanCount: number,
 *   errorCount: number, services: {name: string, count: number}[], startTime: number,
 *   duration: number, hasMissingRoot: boolean
 * }} TraceSummary
 */

/**
 * What a search result row and the scatter plot need, without building the tree (a page of
 * 1,000 results must render quickly). The root is the earliest span whose parent is not in
 * the trace.
 * @param {any} jt a Jaeger trace
 * @returns {TraceSummary}
 */
export function summarizeTrace(jt) {
  const spans = Array.isArray(jt?.spans) ? jt.spans : [];
  const processes = jt?.processes || {};
  const ids = new Set(spans.map((/** @type {any} */ s) => s.spanID));
  /** @type {Map<string, number>} */
  const perService = new Map();
  let start = Infinity;
  let end = -Infinity;
  let errorCount = 0;
  /** @type {any} */
  let root = null;
  for (const s of spans) {
    const svc = String(processes[s.processID]?.serviceName ?? s.process?.serviceName ?? 'unknown');
    perService.set(svc, (perService.get(svc) || 0) + 1);
    const st = Number(s.startTime) || 0;
    start = Math.min(start, st);
    end = Math.max(end, st + (Number(s.duration) || 0));
    if (isError(Array.isArray(s.tags) ? s.tags : [])) errorCount++;
    const parentInTrace = (s.references || []).some((/** @type {any} */ r) => r && r.spanID !== s.spanID && ids.has(r.spanID) && (r.refType === 'CHILD_OF' || r.refType === 'FOLLOWS_FROM'));
    if (!parentInTrace && (!root || st < (Number(root.startTime) || 0))) root = s;
  }
  if (!spans.length) { start = 0; end = 0; }
  return {
    traceID: String(jt?.traceID ?? ''),
    rootService: root ? String(processes[root.processID]?.serviceName ?? root.process?.serviceName ?? 'unknown') : 'unknown',
    rootOperation: root ? String(root.operationName ?? '') : '',
    spanCount: spans.length,
    errorCount,
    services: [...perService].map(([name, count]) => ({ name, count })).sort((a, b) => b.count - a.count || a.name.localeCompare(b.name)),
    startTime: start,
    duration: end - start,
    hasMissingRoot: !root,
  };
}
