// @ts-check
/**
 * Small helpers every page shares: building DOM, formatting durations and times the way Jaeger
 * shows them, stable colours per service, and the empty/loading/error states, so those look
 * the same everywhere.
 */

/**
 * Creates an element. `attrs` keys: `class`, `text`, `html` is NOT supported on purpose (no
 * injection from span data); `on<event>` adds a listener; `dataset` sets data-*; other keys
 * become attributes (false/null/undefined are left out).
 * @param {string} tag
 * @param {Record<string, any>} [attrs]
 * @param {...(Node | string | null | undefined | false)} children
 * @returns {HTMLElement}
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = String(v);
    else if (k === 'text') node.textContent = String(v);
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k === 'style' && typeof v === 'object') Object.assign(node.style, v);
    else if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    node.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return node;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
/**
 * Creates an SVG element with attributes.
 * @param {string} tag
 * @param {Record<string, any>} [attrs]
 * @returns {SVGElement}
 */
export function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== undefined && v !== null && v !== false) node.setAttribute(k, String(v));
  }
  return node;
}

/**
 * A duration in microseconds as Jaeger shows it: `750μs`, `12.3ms`, `1.52s`, `2m 5s`.
 * @param {number} us
 */
export function formatDuration(us) {
  if (!Number.isFinite(us)) return '-';
  const abs = Math.abs(us);
  if (abs < 1000) return `${Math.round(us)}μs`;
  if (abs < 1e6) return `${trim(us / 1000)}ms`;
  if (abs < 60e6) return `${trim(us / 1e6)}s`;
  const m = Math.floor(us / 60e6);
  const s = Math.round((us - m * 60e6) / 1e6);
  return `${m}m ${s}s`;
}

/** @param {number} x */
function trim(x) {
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1).replace(/\.0$/, '') : x.toFixed(2).replace(/\.?0+$/, '');
}

/**
 * A timestamp in microseconds since the epoch as local `YYYY-MM-DD HH:MM:SS.mmm`.
 * @param {number} us
 */
export function formatTime(us) {
  const d = new Date(us / 1000);
  const p = (/** @type {number} */ n, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/**
 * "3 minutes ago" for a timestamp in microseconds.
 * @param {number} us
 */
export function formatAgo(us) {
  const s = (Date.now() - us / 1000) / 1000;
  if (s < 60) return `${Math.max(0, Math.round(s))}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

const PALETTE = [
  '#17b8be', '#f8dcab', '#705da0', '#fd9b6b', '#47a0d9', '#e5a5c8', '#9cd45f', '#fe6b60',
  '#6196e9', '#d9b44a', '#ae6fd8', '#4dc28a', '#e57373', '#7f8fa6', '#c7925b', '#38b6ff',
];
/** @type {Map<string, string>} */
const assigned = new Map();
/**
 * A stable colour for a service: the same name gets the same colour on every page (and in
 * every view), assigned by a hash so it does not depend on the order services are seen.
 * @param {string} service
 */
export function serviceColor(service) {
  let c = assigned.get(service);
  if (!c) {
    let h = 2166136261;
    for (let i = 0; i < service.length; i++) h = Math.imul(h ^ service.charCodeAt(i), 16777619);
    c = PALETTE[(h >>> 0) % PALETTE.length];
    assigned.set(service, c);
  }
  return c;
}

/**
 * The shared state blocks: `kind` is `empty`, `loading` or `error`. Tests find them by
 * `.state-empty`, `.state-loading`, `.state-error`.
 * @param {'empty' | 'loading' | 'error'} kind
 * @param {string} title
 * @param {string} [detail]
 * @returns {HTMLElement}
 */
export function stateBlock(kind, title, detail) {
  return el('div', { class: `state state-${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    kind === 'loading' ? el('div', { class: 'spinner', 'aria-hidden': 'true' }) : null,
    el('div', { class: 'state-title', text: title }),
    detail ? el('div', { class: 'state-detail', text: detail }) : null);
}

/**
 * Adds a stylesheet (relative to the base, e.g. `static/views/graph.css`) once.
 * @param {string} href
 */
export function ensureStyle(href) {
  const url = new URL(href, document.baseURI).href;
  for (const l of document.querySelectorAll('link[rel=stylesheet]')) {
    if (/** @type {HTMLLinkElement} */ (l).href === url) return;
  }
  document.head.append(el('link', { rel: 'stylesheet', href: url }));
}

/**
 * Downloads text as a file (the JSON view's download).
 * @param {string} name
 * @param {string} text
 * @param {string} [type]
 */
export function downloadText(name, text, type = 'application/json') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = el('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
