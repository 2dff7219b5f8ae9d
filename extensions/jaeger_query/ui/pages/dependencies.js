// @ts-check
/**
 * The dependencies page: the service graph from `/api/dependencies` for a time window, laid out
 * in layers (`deps/layout.js`: cycles handled, nodes never overlap), call counts on the edges.
 * Clicking (or Enter on) a service opens a search for it; hovering one lights its edges. On a
 * big graph, "Focus" keeps one service with its callers and callees. The window and the focus
 * live in the URL (`/dependencies?lookback=6h&end=<ms>&focus=<service>`), so they can be shared.
 */

import { edgePath, labelPoint, layeredLayout } from '../deps/layout.js';
import { el, ensureStyle, serviceColor, stateBlock, svg } from '../util.js';

/** @type {[string, number][]} */
const LOOKBACKS = [['1h', 3600e3], ['2h', 7200e3], ['6h', 6 * 3600e3], ['12h', 12 * 3600e3], ['24h', 24 * 3600e3], ['2d', 48 * 3600e3], ['7d', 7 * 24 * 3600e3]];

/** @param {number} ms epoch milliseconds -> the value of a datetime-local input (local time) */
function toLocalInput(ms) {
  const d = new Date(ms);
  const p = (/** @type {number} */ n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/**
 * @param {HTMLElement} root
 * @param {import('../app.js').PageContext} ctx
 */
export async function mount(root, ctx) {
  ensureStyle('static/views/views.css');
  const lookbackName = LOOKBACKS.some(([n]) => n === ctx.params.get('lookback')) ? /** @type {string} */ (ctx.params.get('lookback')) : '24h';
  const lookback = /** @type {[string, number]} */ (LOOKBACKS.find(([n]) => n === lookbackName))[1];
  const endParam = Number(ctx.params.get('end'));
  const end = Number.isFinite(endParam) && endParam > 0 ? endParam : Date.now();

  const focus = ctx.params.get('focus') || '';
  const go = (/** @type {string} */ lb, /** @type {number | null} */ e, /** @type {string} */ f = focus) =>
    ctx.navigate(`/dependencies?lookback=${lb}${e ? `&end=${e}` : ''}${f ? `&focus=${encodeURIComponent(f)}` : ''}`);
  const lbSel = el('select', { name: 'lookback', 'aria-label': 'Lookback', onchange: (/** @type {Event} */ ev) => go(/** @type {any} */ (ev.target).value, endParam || null) },
    ...LOOKBACKS.map(([n]) => el('option', { value: n, selected: n === lookbackName }, `Last ${n}`)));
  const endIn = el('input', { type: 'datetime-local', name: 'end', value: endParam ? toLocalInput(endParam) : '', 'aria-label': 'Window end (empty: now)' });
  const form = el('form', {
    class: 'pg-form',
    onsubmit: (/** @type {Event} */ ev) => {
      ev.preventDefault();
      const v = /** @type {HTMLInputElement} */ (endIn).value;
      go(/** @type {HTMLSelectElement} */ (lbSel).value, v ? new Date(v).getTime() : null);
    },
  }, el('label', {}, 'Window', lbSel), el('label', {}, 'Ending at (empty: now)', endIn), el('button', { class: 'btn primary', type: 'submit' }, 'Show'));
  const body = el('div', { class: 'deps-body' }, stateBlock('loading', 'Loading dependencies…'));
  root.replaceChildren(el('div', { class: 'pg' }, el('h1', {}, 'Service dependencies'), form, body));

  /** @type {{parent: string, child: string, callCount: number}[]} */
  let links;
  try {
    links = await ctx.api.getDependencies(end, lookback);
  } catch (e) {
    if (body.isConnected) body.replaceChildren(stateBlock('error', 'Dependencies could not be loaded', e instanceof Error ? e.message : String(e)));
    return;
  }
  if (!body.isConnected) return;
  if (!links.length) {
    body.replaceChildren(stateBlock('empty', 'No dependencies in this window', `No service called another between ${new Date(end - lookback).toLocaleString()} and ${new Date(end).toLocaleString()}. Try a longer window.`));
    return;
  }
  const services = [...new Set(links.flatMap((l) => [l.parent, l.child]))].sort();
  const focusSel = el('select', { name: 'focus', 'aria-label': 'Focus on a service', onchange: (/** @type {Event} */ ev) => go(lookbackName, endParam || null, /** @type {any} */ (ev.target).value) },
    el('option', { value: '' }, 'All services'), ...services.map((sv) => el('option', { value: sv, selected: sv === focus }, sv)));
  form.insertBefore(el('label', {}, 'Focus', focusSel), form.lastChild);
  const shown = focus && services.includes(focus) ? links.filter((l) => l.parent === focus || l.child === focus) : links;
  drawGraph(body, shown, ctx);
}

/**
 * @param {HTMLElement} body
 * @param {{parent: string, child: string, callCount: number}[]} links
 * @param {import('../app.js').PageContext} ctx
 */
function drawGraph(body, links, ctx) {
  const services = [...new Set(links.flatMap((l) => [l.parent, l.child]))].sort();
  /** @type {Map<string, number>} */
  const calls = new Map();
  for (const l of links) calls.set(`${l.parent}\u0000${l.child}`, (calls.get(`${l.parent}\u0000${l.child}`) || 0) + l.callCount);
  const width = (/** @type {string} */ s) => Math.min(240, Math.max(90, s.length * 7.2 + 30));
  const layout = layeredLayout(services, links.map((l) => ({ from: l.parent, to: l.child })), { nodeWidth: width, nodeHeight: 34, layerGap: 110, nodeGap: 16 });
  const root = /** @type {SVGSVGElement} */ (svg('svg', { class: 'deps-svg', width: layout.width, height: layout.height, viewBox: `0 0 ${layout.width} ${layout.height}`, role: 'img', 'aria-label': `${services.length} services, ${calls.size} dependencies` }));
  const defs = svg('defs');
  const marker = svg('marker', { id: 'deps-arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
  marker.append(svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'deps-arrowhead' }));
  defs.append(marker);
  root.append(defs);
  /** @type {SVGElement[]} */
  const edgeEls = [];
  for (const e of layout.edges) {
    const count = calls.get(`${e.from}\u0000${e.to}`) || 0;
    const g = svg('g', { class: 'deps-edge', 'data-parent': e.from, 'data-child': e.to, 'data-calls': count });
    const title = svg('title');
    title.textContent = `${e.from} → ${e.to}: ${count} calls`;
    const p = labelPoint(e);
    const label = svg('text', { x: p.x, y: p.y - 4, 'text-anchor': 'middle', class: 'deps-edge-label' });
    label.textContent = String(count);
    g.append(title, svg('path', { d: edgePath(e), 'marker-end': 'url(#deps-arrow)' }), label);
    root.append(g);
    edgeEls.push(g);
  }
  /** @type {SVGElement[]} */
  const nodeEls = [];
  for (const n of layout.nodes.values()) {
    const g = svg('g', { class: 'deps-node', transform: `translate(${n.x},${n.y})`, 'data-service': n.id, tabindex: 0, role: 'link', 'aria-label': `Search traces of ${n.id}` });
    const title = svg('title');
    title.textContent = `${n.id}: click to search its traces`;
    const t = svg('text', { x: 12, y: n.h / 2 + 4 });
    const max = Math.floor((n.w - 16) / 7);
    t.textContent = n.id.length > max ? n.id.slice(0, max - 1) + '…' : n.id;
    g.append(title, svg('rect', { width: n.w, height: n.h, rx: 17, class: 'deps-node-box' }), svg('circle', { cx: n.w - 12, cy: n.h / 2, r: 4, fill: serviceColor(n.id) }), t);
    const open = () => ctx.navigate(`/search?service=${encodeURIComponent(n.id)}`);
    g.addEventListener('click', open);
    g.addEventListener('keydown', (ev) => { if (/** @type {KeyboardEvent} */ (ev).key === 'Enter') open(); });
    g.addEventListener('mouseenter', () => highlight(n.id));
    g.addEventListener('mouseleave', () => highlight(null));
    root.append(g);
    nodeEls.push(g);
  }
  /** @param {string | null} svc */
  function highlight(svc) {
    const near = new Set(svc ? [svc] : []);
    for (const g of edgeEls) {
      const hot = !!svc && (g.dataset.parent === svc || g.dataset.child === svc);
      if (hot) { near.add(g.dataset.parent || ''); near.add(g.dataset.child || ''); }
      g.classList.toggle('deps-hot', hot);
      g.classList.toggle('deps-dim', !!svc && !hot);
    }
    for (const g of nodeEls) g.classList.toggle('deps-dim', !!svc && !near.has(g.dataset.service || ''));
  }

  const wrap = el('div', { class: 'deps-wrap' }, root);
  let fit = false;
  const fitBtn = el('button', {
    class: 'btn', type: 'button', 'aria-pressed': 'false',
    onclick: () => {
      fit = !fit;
      fitBtn.setAttribute('aria-pressed', String(fit));
      root.setAttribute('width', fit ? String(Math.max(200, wrap.clientWidth - 4)) : String(layout.width));
      root.setAttribute('height', fit ? String(Math.max(120, (layout.height * (wrap.clientWidth - 4)) / layout.width)) : String(layout.height));
    },
  }, 'Fit to width');
  const rows = [...calls].map(([k, n]) => { const [parent, child] = k.split('\u0000'); return { parent, child, n }; }).sort((x, y) => y.n - x.n || x.parent.localeCompare(y.parent));
  const svcLink = (/** @type {string} */ s) => el('a', { href: `search?service=${encodeURIComponent(s)}` }, s);
  const table = el('table', { class: 'data deps-edges' },
    el('thead', {}, el('tr', {}, el('th', {}, 'Caller'), el('th', {}, 'Callee'), el('th', { class: 'num' }, 'Calls'))),
    el('tbody', {}, ...rows.map((r) => el('tr', { dataset: { parent: r.parent, child: r.child } }, el('td', {}, svcLink(r.parent)), el('td', {}, svcLink(r.child)), el('td', { class: 'num' }, String(r.n))))));
  body.replaceChildren(
    el('div', { class: 'tv-toolbar' }, fitBtn, el('span', { class: 'muted' }, `${services.length} services, ${calls.size} edges in ${layout.layers} layers; click a service to search its traces.`)),
    wrap,
    el('details', { class: 'panel pg-section' }, el('summary', {}, 'All edges'), el('div', { class: 'deps-table' }, table)));
}
