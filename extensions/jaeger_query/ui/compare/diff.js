// @ts-check
/**
 * Comparing two traces, as Jaeger's trace diff does: spans are matched by service and
 * operation, either along their path from the root (the tree: "the same call in the same
 * place") or anywhere in the trace (the flat table). Each match carries the span count and
 * total duration on each side; the status says what differs. Pure, so tests check numbers.
 */

/**
 * @typedef {import('../model.js').Trace} Trace
 * @typedef {import('../model.js').Span} Span
 * @typedef {'same' | 'only-a' | 'only-b' | 'more' | 'fewer'} DiffStatus
 * @typedef {{service: string, operation: string, countA: number, countB: number, durA: number,
 *   durB: number, errA: number, errB: number, status: DiffStatus}} DiffRow
 * @typedef {DiffRow & {depth: number, id: number, children: DiffNode[]}} DiffNode
 */

/** @param {DiffRow} r @returns {DiffStatus} */
export function status(r) {
  if (r.countA && !r.countB) return 'only-a';
  if (r.countB && !r.countA) return 'only-b';
  if (r.countB > r.countA) return 'more';
  if (r.countB < r.countA) return 'fewer';
  return 'same';
}

/** @param {Span} s */
const keyOf = (s) => `${s.serviceName}\u0000${s.operationName}`;

/**
 * Matched anywhere in the trace: one row per service+operation.
 * @param {Trace} a
 * @param {Trace} b
 * @returns {DiffRow[]} only-in-one rows first, then by size of the difference
 */
export function diffFlat(a, b) {
  /** @type {Map<string, DiffRow>} */
  const rows = new Map();
  for (const [trace, side] of /** @type {[Trace, 'A' | 'B'][]} */ ([[a, 'A'], [b, 'B']])) {
    for (const s of trace.spans) {
      const k = keyOf(s);
      let r = rows.get(k);
      if (!r) {
        r = { service: s.serviceName, operation: s.operationName, countA: 0, countB: 0, durA: 0, durB: 0, errA: 0, errB: 0, status: 'same' };
        rows.set(k, r);
      }
      if (side === 'A') { r.countA++; r.durA += s.duration; if (s.hasError) r.errA++; } else { r.countB++; r.durB += s.duration; if (s.hasError) r.errB++; }
    }
  }
  const order = { 'only-a': 0, 'only-b': 1, more: 2, fewer: 2, same: 3 };
  return [...rows.values()]
    .map((r) => ({ ...r, status: status(r) }))
    .sort((x, y) => order[x.status] - order[y.status] || Math.abs(y.countB - y.countA) - Math.abs(x.countB - x.countA)
      || Math.abs(y.durB - y.durA) - Math.abs(x.durB - x.durA) || x.service.localeCompare(y.service) || x.operation.localeCompare(y.operation));
}

/**
 * Matched along the path from the root: spans with the same chain of service+operation from
 * the root fall in one node. Iterative, so deep traces cannot overflow the stack.
 * @param {Trace} a
 * @param {Trace} b
 * @returns {DiffNode[]} the roots, each with its subtree
 */
export function diffTree(a, b) {
  /** @type {DiffNode[]} */
  const roots = [];
  /** @type {Map<DiffNode | null, Map<string, DiffNode>>} */
  const childIndex = new Map([[null, new Map()]]);
  let nextId = 0;
  for (const [trace, side] of /** @type {[Trace, 'A' | 'B'][]} */ ([[a, 'A'], [b, 'B']])) {
    /** @type {[Span, DiffNode | null][]} */
    const stack = trace.roots.slice().reverse().map((s) => [s, null]);
    while (stack.length) {
      const [s, parent] = /** @type {[Span, DiffNode | null]} */ (stack.pop());
      const index = /** @type {Map<string, DiffNode>} */ (childIndex.get(parent));
      const k = keyOf(s);
      let node = index.get(k);
      if (!node) {
        node = { id: nextId++, depth: parent ? parent.depth + 1 : 0, children: [], service: s.serviceName, operation: s.operationName, countA: 0, countB: 0, durA: 0, durB: 0, errA: 0, errB: 0, status: 'same' };
        index.set(k, node);
        childIndex.set(node, new Map());
        (parent ? parent.children : roots).push(node);
      }
      if (side === 'A') { node.countA++; node.durA += s.duration; if (s.hasError) node.errA++; } else { node.countB++; node.durB += s.duration; if (s.hasError) node.errB++; }
      for (let i = s.children.length - 1; i >= 0; i--) stack.push([s.children[i], node]);
    }
  }
  /** @type {DiffNode[]} */
  const all = [...roots];
  for (let i = 0; i < all.length; i++) {
    all[i].status = status(all[i]);
    all.push(...all[i].children);
  }
  return roots;
}

/**
 * The tree in display order (depth first).
 * @param {DiffNode[]} roots
 * @returns {DiffNode[]}
 */
export function flattenTree(roots) {
  /** @type {DiffNode[]} */
  const out = [];
  const stack = roots.slice().reverse();
  while (stack.length) {
    const n = /** @type {DiffNode} */ (stack.pop());
    out.push(n);
    for (let i = n.children.length - 1; i >= 0; i--) stack.push(n.children[i]);
  }
  return out;
}

/**
 * Totals for the header: spans on each side and how many rows are only in one.
 * @param {DiffRow[]} rows
 */
export function summarize(rows) {
  return {
    onlyA: rows.filter((r) => r.status === 'only-a').length,
    onlyB: rows.filter((r) => r.status === 'only-b').length,
    changed: rows.filter((r) => r.status === 'more' || r.status === 'fewer').length,
    same: rows.filter((r) => r.status === 'same').length,
  };
}
