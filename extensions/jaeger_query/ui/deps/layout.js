// @ts-check
/**
 * A layered (Sugiyama-style) layout for directed graphs, shared by the dependencies page and
 * the trace graph view. Pure: ids and edges in, coordinates out, so it is tested without a DOM.
 *
 * 1. Cycles: a depth-first search from the sources reverses its back edges (remembered, so
 *    arrows still point the way the calls went); self-loops are set aside.
 * 2. Layers: longest path from the sources, so every edge points to a later layer.
 * 3. Edges spanning several layers get a dummy node per layer crossed, so they route between
 *    nodes instead of through them.
 * 4. Order within layers: barycentre sweeps down and up, keeping the best order seen (fewest
 *    crossings between neighbouring layers).
 * 5. Coordinates: left to right by layer; in a layer, nodes are stacked with a fixed gap and
 *    the layer is centred, so nodes never overlap whatever their number.
 */

/**
 * @typedef {{id: string, x: number, y: number, w: number, h: number, layer: number, dummy: boolean}} LaidNode
 * @typedef {{from: string, to: string, points: {x: number, y: number}[], reversed: boolean, self: boolean}} LaidEdge
 * @typedef {{nodes: Map<string, LaidNode>, edges: LaidEdge[], width: number, height: number, layers: number}} Layout
 * @typedef {{nodeWidth?: (id: string) => number, nodeHeight?: number, layerGap?: number, nodeGap?: number, margin?: number}} LayoutOptions
 */

/**
 * @param {string[]} ids
 * @param {{from: string, to: string}[]} edgeList
 * @param {LayoutOptions} [opts]
 * @returns {Layout}
 */
export function layeredLayout(ids, edgeList, opts = {}) {
  const nodeWidth = opts.nodeWidth || (() => 120);
  const nodeHeight = opts.nodeHeight ?? 36;
  const layerGap = opts.layerGap ?? 90;
  const nodeGap = opts.nodeGap ?? 18;
  const margin = opts.margin ?? 20;
  const dummyH = 6;

  const idSet = new Set(ids);
  /** @type {{from: string, to: string}[]} */
  const edges = [];
  const seenEdge = new Set();
  /** @type {{from: string, to: string}[]} */
  const selfLoops = [];
  for (const e of edgeList) {
    if (!idSet.has(e.from) || !idSet.has(e.to)) continue;
    if (e.from === e.to) { selfLoops.push(e); continue; }
    const k = `${e.from}\u0000${e.to}`;
    if (seenEdge.has(k)) continue;
    seenEdge.add(k);
    edges.push(e);
  }

  // 1. Break cycles with an iterative DFS; an edge to a node on the stack is a back edge.
  /** @type {Map<string, string[]>} */
  const out = new Map(ids.map((id) => [id, []]));
  for (const e of edges) out.get(e.from)?.push(e.to);
  const indeg = new Map(ids.map((id) => [id, 0]));
  for (const e of edges) indeg.set(e.to, (indeg.get(e.to) || 0) + 1);
  const starts = [...ids.filter((id) => !indeg.get(id)), ...ids];
  /** @type {Map<string, number>} 1 on stack, 2 done */
  const mark = new Map();
  const back = new Set();
  for (const s of starts) {
    if (mark.get(s)) continue;
    /** @type {[string, number][]} */
    const stack = [[s, 0]];
    mark.set(s, 1);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const next = out.get(top[0]) || [];
      if (top[1] < next.length) {
        const to = next[top[1]++];
        const m = mark.get(to);
        if (m === 1) back.add(`${top[0]}\u0000${to}`);
        else if (!m) { mark.set(to, 1); stack.push([to, 0]); }
      } else {
        mark.set(top[0], 2);
        stack.pop();
      }
    }
  }
  const dag = edges.map((e) => (back.has(`${e.from}\u0000${e.to}`) ? { from: e.to, to: e.from, reversed: true, orig: e } : { ...e, reversed: false, orig: e }));

  // 2. Longest-path layering in topological order (Kahn).
  /** @type {Map<string, number>} */
  const layer = new Map(ids.map((id) => [id, 0]));
  /** @type {Map<string, string[]>} */
  const dagOut = new Map(ids.map((id) => [id, []]));
  const din = new Map(ids.map((id) => [id, 0]));
  for (const e of dag) { dagOut.get(e.from)?.push(e.to); din.set(e.to, (din.get(e.to) || 0) + 1); }
  const queue = ids.filter((id) => !din.get(id));
  for (let i = 0; i < queue.length; i++) {
    const u = queue[i];
    for (const v of dagOut.get(u) || []) {
      layer.set(v, Math.max(layer.get(v) || 0, (layer.get(u) || 0) + 1));
      din.set(v, (din.get(v) || 0) - 1);
      if (!din.get(v)) queue.push(v);
    }
  }
  const layerCount = ids.length ? Math.max(...layer.values()) + 1 : 0;

  // 3. Dummy nodes along long edges; `chains` keeps each edge's path of node ids.
  /** @type {string[][]} */
  const layers = Array.from({ length: layerCount }, () => []);
  for (const id of ids) layers[layer.get(id) || 0].push(id);
  /** @type {Map<string, string[]>} up-neighbours, @type {Map<string, string[]>} down-neighbours */
  const up = new Map(ids.map((id) => [id, /** @type {string[]} */ ([])]));
  const down = new Map(ids.map((id) => [id, /** @type {string[]} */ ([])]));
  const dummies = new Set();
  const chains = dag.map((e, i) => {
    const chain = [e.from];
    const a = layer.get(e.from) || 0;
    const b = layer.get(e.to) || 0;
    for (let l = a + 1; l < b; l++) {
      const d = `\u0001dummy${i}_${l}`;
      dummies.add(d);
      layers[l].push(d);
      up.set(d, []);
      down.set(d, []);
      chain.push(d);
    }
    chain.push(e.to);
    for (let k = 0; k + 1 < chain.length; k++) {
      down.get(chain[k])?.push(chain[k + 1]);
      up.get(chain[k + 1])?.push(chain[k]);
    }
    return chain;
  });

  // 4. Barycentre ordering.
  /** @type {Map<string, number>} */
  const pos = new Map();
  const setPos = () => layers.forEach((l) => l.forEach((id, i) => pos.set(id, i)));
  setPos();
  const crossings = () => {
    let c = 0;
    for (let l = 0; l + 1 < layers.length; l++) {
      /** @type {[number, number][]} */
      const segs = [];
      for (const u of layers[l]) for (const v of down.get(u) || []) segs.push([pos.get(u) || 0, pos.get(v) || 0]);
      segs.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
      for (let i = 0; i < segs.length; i++) for (let j = i + 1; j < segs.length; j++) if (segs[j][0] > segs[i][0] && segs[j][1] < segs[i][1]) c++;
    }
    return c;
  };
  /** @param {string[]} l @param {Map<string, string[]>} nb */
  const sortByBary = (l, nb) => {
    const bary = new Map(l.map((id, i) => {
      const ns = nb.get(id) || [];
      return [id, ns.length ? ns.reduce((s, n) => s + (pos.get(n) || 0), 0) / ns.length : i];
    }));
    l.sort((a, b) => (bary.get(a) || 0) - (bary.get(b) || 0));
    l.forEach((id, i) => pos.set(id, i));
  };
  let best = layers.map((l) => l.slice());
  // Counting crossings is quadratic in edges per layer gap; big graphs keep the first sweeps.
  const countable = chains.reduce((s, c) => s + c.length, 0) < 3000;
  let bestC = countable ? crossings() : Infinity;
  for (let iter = 0; iter < 8; iter++) {
    for (let l = 1; l < layers.length; l++) sortByBary(layers[l], up);
    for (let l = layers.length - 2; l >= 0; l--) sortByBary(layers[l], down);
    const c = countable ? crossings() : 0;
    if (c < bestC || !countable) { bestC = c; best = layers.map((x) => x.slice()); }
    if (bestC === 0) break;
  }
  best.forEach((l, i) => { layers[i] = l; });
  setPos();

  // 5. Coordinates.
  /** @type {Map<string, LaidNode>} */
  const nodes = new Map();
  const layerW = layers.map((l) => Math.max(0, ...l.filter((id) => !dummies.has(id)).map((id) => nodeWidth(id))) || 20);
  const layerH = layers.map((l) => l.reduce((s, id) => s + (dummies.has(id) ? dummyH : nodeHeight), 0) + Math.max(0, l.length - 1) * nodeGap);
  const height = Math.max(0, ...layerH);
  let x = margin;
  layers.forEach((l, li) => {
    let y = margin + (height - layerH[li]) / 2;
    for (const id of l) {
      const dummy = dummies.has(id);
      const w = dummy ? 0 : nodeWidth(id);
      const h = dummy ? dummyH : nodeHeight;
      nodes.set(id, { id, x: x + (layerW[li] - w) / 2, y, w, h, layer: li, dummy });
      y += h + nodeGap;
    }
    x += layerW[li] + layerGap;
  });
  const width = layers.length ? x - layerGap + margin : 2 * margin;

  /** @type {LaidEdge[]} */
  const laid = dag.map((e, i) => {
    const pts = chains[i].map((id, k, all) => {
      const n = /** @type {LaidNode} */ (nodes.get(id));
      if (k === 0) return { x: n.x + n.w, y: n.y + n.h / 2 };
      if (k === all.length - 1) return { x: n.x, y: n.y + n.h / 2 };
      return { x: n.x, y: n.y + n.h / 2 };
    });
    return { from: e.orig.from, to: e.orig.to, points: e.reversed ? pts.reverse() : pts, reversed: e.reversed, self: false };
  });
  for (const e of selfLoops) {
    const n = /** @type {LaidNode} */ (nodes.get(e.from));
    laid.push({ from: e.from, to: e.to, self: true, reversed: false, points: [{ x: n.x + n.w * 0.7, y: n.y }, { x: n.x + n.w * 0.3, y: n.y }] });
  }
  for (const d of dummies) nodes.delete(d);
  return { nodes, edges: laid, width, height: height + 2 * margin, layers: layerCount };
}

/**
 * An SVG path through the points with horizontal tangents (smooth left-to-right curves); a
 * self-loop is an arc above the node.
 * @param {LaidEdge} e
 */
export function edgePath(e) {
  const p = e.points;
  if (e.self) return `M${p[0].x},${p[0].y} C${p[0].x + 20},${p[0].y - 36} ${p[1].x - 20},${p[1].y - 36} ${p[1].x},${p[1].y}`;
  let d = `M${p[0].x},${p[0].y}`;
  for (let i = 1; i < p.length; i++) {
    const a = p[i - 1];
    const b = p[i];
    const dx = (b.x - a.x) / 2;
    d += ` C${a.x + dx},${a.y} ${b.x - dx},${b.y} ${b.x},${b.y}`;
  }
  return d;
}

/**
 * Where to put an edge's label: the middle of its middle segment.
 * @param {LaidEdge} e
 */
export function labelPoint(e) {
  const p = e.points;
  if (e.self) return { x: (p[0].x + p[1].x) / 2, y: p[0].y - 30 };
  const i = Math.max(1, Math.floor(p.length / 2));
  return { x: (p[i - 1].x + p[i].x) / 2, y: (p[i - 1].y + p[i].y) / 2 };
}
