// @ts-check
/**
 * The trace graph view: one node per service+operation, an edge from a span's node to each
 * child's node labelled with how many calls it stands for, laid out in layers left to right
 * (`deps/layout.js`), so a trace of thousands of spans that repeats a few calls reads as a
 * small graph. Nodes show the span count, total time and errors; hovering names everything.
 */

import { edgePath, labelPoint, layeredLayout } from '../deps/layout.js';
import { el, ensureStyle, formatDuration, serviceColor, svg } from '../util.js';

/**
 * @typedef {import('../model.js').Trace} Trace
 * @typedef {{id: string, service: string, operation: string, count: number, errors: number, total: number}} GraphNode
 * @typedef {{from: string, to: string, count: number}} GraphEdge
 */

/**
 * @param {Trace} trace
 * @returns {{nodes: GraphNode[], edges: GraphEdge[]}}
 */
export function traceGraph(trace) {
  /** @type {Map<string, GraphNode>} */
  const nodes = new Map();
  /** @type {Map<string, GraphEdge>} */
  const edges = new Map();
  const idOf = (/** @type {import('../model.js').Span} */ s) => `${s.serviceName}\u0000${s.operationName}`;
  for (const span of trace.spans) {
    const id = idOf(span);
    let n = nodes.get(id);
    if (!n) {
      n = { id, service: span.serviceName, operation: span.operationName, count: 0, errors: 0, total: 0 };
      nodes.set(id, n);
    }
    n.count++;
    n.total += span.duration;
    if (span.hasError) n.errors++;
    const parent = span.parentSpanID ? trace.spanByID.get(span.parentSpanID) : undefined;
    if (parent) {
      const k = `${idOf(parent)}\u0001${id}`;
      const e = edges.get(k);
      if (e) e.count++;
      else edges.set(k, { from: idOf(parent), to: id, count: 1 });
    }
  }
  return { nodes: [...nodes.values()], edges: [...edges.values()] };
}

const NODE_H = 44;

/** @param {string} s @param {number} max */
const clip = (s, max) => (s.length > max ? s.slice(0, max - 1) + '…' : s);

/**
 * @param {HTMLElement} container
 * @param {Trace} trace
 */
export function render(container, trace) {
  ensureStyle('static/views/views.css');
  if (!trace.spans.length) {
    container.replaceChildren(el('div', { class: 'muted tv-empty' }, 'This trace has no spans.'));
    return;
  }
  const g = traceGraph(trace);
  const byID = new Map(g.nodes.map((n) => [n.id, n]));
  const widthOf = (/** @type {string} */ id) => {
    const n = byID.get(id);
    // Room for the longer line; the service line also holds the count.
    const chars = Math.max((n?.service.length || 0) + String(n?.count || '').length + 4, n?.operation.length || 0, 12);
    return Math.min(280, Math.max(110, chars * 6.8 + 24));
  };
  const layout = layeredLayout(g.nodes.map((n) => n.id), g.edges, { nodeWidth: widthOf, nodeHeight: NODE_H, layerGap: 80, nodeGap: 16 });
  const root = /** @type {SVGSVGElement} */ (svg('svg', {
    class: 'tv-graph-svg', width: layout.width, height: layout.height, viewBox: `0 0 ${layout.width} ${layout.height}`,
    role: 'img', 'aria-label': `Graph of ${g.nodes.length} service/operation nodes and ${g.edges.length} edges`,
  }));
  const defs = svg('defs');
  const marker = svg('marker', { id: 'tv-arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
  marker.append(svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'tv-arrowhead' }));
  defs.append(marker);
  root.append(defs);
  const counts = new Map(g.edges.map((e) => [`${e.from}\u0001${e.to}`, e.count]));
  for (const e of layout.edges) {
    const count = counts.get(`${e.from}\u0001${e.to}`) || 0;
    const group = svg('g', { class: 'tv-edge', 'data-from': e.from.replace('\u0000', ' '), 'data-to': e.to.replace('\u0000', ' '), 'data-count': count });
    group.append(svg('path', { d: edgePath(e), 'marker-end': 'url(#tv-arrow)' }));
    const p = labelPoint(e);
    const label = svg('text', { x: p.x, y: p.y - 4, 'text-anchor': 'middle', class: 'tv-edge-label' });
    label.textContent = `${count}×`;
    group.append(label);
    root.append(group);
  }
  for (const ln of layout.nodes.values()) {
    const n = byID.get(ln.id);
    if (!n) continue;
    const group = svg('g', { class: 'tv-node' + (n.errors ? ' tv-node-error' : ''), transform: `translate(${ln.x},${ln.y})`, 'data-service': n.service, 'data-operation': n.operation, 'data-count': n.count });
    const title = svg('title');
    title.textContent = `${n.service} ${n.operation}\n${n.count} span(s), total ${formatDuration(n.total)}${n.errors ? `, ${n.errors} error(s)` : ''}`;
    group.append(title,
      svg('rect', { width: ln.w, height: ln.h, rx: 6, class: 'tv-node-box' }),
      svg('rect', { width: 5, height: ln.h, rx: 2, fill: serviceColor(n.service) }));
    const maxChars = Math.floor((ln.w - 20) / 6.8);
    const count = `${n.count}${n.errors ? ` · ${n.errors}!` : ''}`;
    const t1 = svg('text', { x: 12, y: 17, class: 'tv-node-service' });
    t1.textContent = clip(n.service, maxChars - count.length - 2);
    const t2 = svg('text', { x: 12, y: 34, class: 'tv-node-op' });
    t2.textContent = clip(n.operation, maxChars);
    const t3 = svg('text', { x: ln.w - 8, y: 17, 'text-anchor': 'end', class: 'tv-node-count' });
    t3.textContent = count;
    group.append(t1, t2, t3);
    root.append(group);
  }
  container.replaceChildren(el('div', { class: 'tv-graph' },
    el('div', { class: 'tv-toolbar muted' }, `${g.nodes.length} nodes (service + operation), ${g.edges.length} edges; numbers on edges are calls, in nodes spans (and errors).`),
    el('div', { class: 'tv-scroll' }, root)));
}
