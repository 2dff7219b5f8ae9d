// @ts-check
/**
 * The single-page shell: nav bar, theme, and a router over the History API so every view has a
 * URL a person can share (as Jaeger's) and back/forward work. Each route's page is an ES module
 * loaded on first use with `mount(root, ctx)`; a module that fails to load shows a "not
 * available" state rather than a blank page.
 */

import { api } from './api.js';
import { el, stateBlock } from './util.js';

/**
 * @typedef {{path: string, params: URLSearchParams, navigate: (url: string, opts?: {replace?: boolean}) => void, api: typeof api}} PageContext
 * @typedef {{mount: (root: HTMLElement, ctx: PageContext) => Promise<void | (() => void)>}} PageModule
 */

/** The app's base path (from `<base href>`), always ending in `/`. */
const basePath = new URL(document.baseURI).pathname.replace(/\/?$/, '/');

/**
 * The page module for an app path (relative to the base, starting with `/`).
 * @param {string} path
 * @returns {{module: string, title: string} | null}
 */
export function routeFor(path) {
  if (path === '/search' || path === '/') return { module: './pages/search.js', title: 'Search' };
  if (/^\/trace\/[^/]+\.\.\.[^/]+$/.test(path)) return { module: './pages/compare.js', title: 'Compare' };
  if (/^\/trace\/[^/]+$/.test(path)) return { module: './pages/trace.js', title: 'Trace' };
  if (path === '/compare') return { module: './pages/compare.js', title: 'Compare' };
  if (path === '/dependencies') return { module: './pages/dependencies.js', title: 'Dependencies' };
  if (path === '/monitor') return { module: './pages/monitor.js', title: 'Monitor' };
  if (path === '/upload') return { module: './pages/upload.js', title: 'Upload' };
  return null;
}

/** The app path of the current location. */
function currentPath() {
  const p = location.pathname;
  const rel = p.startsWith(basePath) ? p.slice(basePath.length) : p.replace(/^\//, '');
  return '/' + rel.replace(/\/$/, '');
}

/**
 * The browser URL for an app URL (`/search?x=1` -> `<base>search?x=1`).
 * @param {string} url
 */
export function appHref(url) {
  return basePath + url.replace(/^\//, '');
}

const root = /** @type {HTMLElement} */ (document.getElementById('page'));
/** @type {(() => void) | void} */
let unmount;
let generation = 0;

/**
 * @param {string} url an app URL, e.g. `/trace/abc` or `/search?service=x`
 * @param {{replace?: boolean}} [opts]
 */
export function navigate(url, opts = {}) {
  const href = appHref(url);
  // The same URL again (e.g. Find Traces pressed twice) refreshes the page without a new
  // history entry.
  if (opts.replace || href === location.pathname + location.search) history.replaceState(null, '', href);
  else history.pushState(null, '', href);
  route();
}

async function route() {
  const gen = ++generation;
  const path = currentPath();
  if (path === '/') {
    history.replaceState(null, '', appHref('/search' + location.search));
    return route();
  }
  const params = new URLSearchParams(location.search);
  if (typeof unmount === 'function') {
    try { unmount(); } catch (e) { console.error(e); }
  }
  unmount = undefined;
  for (const a of document.querySelectorAll('nav.top a[data-nav]')) {
    const nav = /** @type {HTMLElement} */ (a).dataset.nav || '';
    a.classList.toggle('active', path === nav || (nav === '/compare' && /^\/trace\/[^/]+\.\.\./.test(path)));
  }
  const r = routeFor(path);
  root.replaceChildren();
  if (!r) {
    root.append(stateBlock('error', 'Page not found', `Nothing lives at ${path}. Try the search.`));
    document.title = 'Not found · tracegate';
    return;
  }
  document.title = `${r.title} · tracegate`;
  root.append(stateBlock('loading', 'Loading…'));
  /** @type {PageModule} */
  let mod;
  try {
    mod = await import(r.module);
  } catch (e) {
    if (gen !== generation) return;
    root.replaceChildren(stateBlock('error', `${r.title} is not available`, `This build of the UI cannot load ${r.module.slice(2)} (${e instanceof Error ? e.message : e}).`));
    return;
  }
  if (gen !== generation) return;
  root.replaceChildren();
  /** @type {PageContext} */
  const ctx = { path, params, navigate, api };
  try {
    const u = await mod.mount(root, ctx);
    if (gen !== generation) {
      if (typeof u === 'function') u();
      return;
    }
    unmount = u;
  } catch (e) {
    if (gen !== generation) return;
    console.error(e);
    root.replaceChildren(stateBlock('error', `${r.title} failed`, e instanceof Error ? e.message : String(e)));
  }
}

// --- theme: light or dark, remembered ---------------------------------------------------------
const THEME_KEY = 'tracegate.theme';
function initialTheme() {
  const saved = localStorage.getItem(THEME_KEY);
  if (saved === 'light' || saved === 'dark') return saved;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}
/** @param {string} theme */
function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  const b = document.getElementById('theme-toggle');
  if (b) b.textContent = theme === 'dark' ? '☀ Light' : '☾ Dark';
}

/** "Lookup by trace id" in the bar, as Jaeger has it, so an id pasted from a log opens from any page. */
function navTraceLookup() {
  const input = /** @type {HTMLInputElement} */ (el('input', { id: 'nav-trace-id', placeholder: 'Lookup by Trace ID(s)…', 'aria-label': 'Lookup by trace ID', spellcheck: 'false' }));
  const form = el('form', { class: 'nav-lookup' }, input);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    // Several ids (space or comma separated) list those traces as search results.
    const ids = input.value.split(/[\s,]+/).filter(Boolean);
    input.value = '';
    if (ids.length === 1) navigate(`/trace/${encodeURIComponent(ids[0])}`);
    else if (ids.length > 1) navigate(`/search?${ids.map((i) => `traceID=${encodeURIComponent(i)}`).join('&')}`);
  });
  return form;
}

function buildNav() {
  const nav = /** @type {HTMLElement} */ (document.querySelector('nav.top'));
  const link = (/** @type {string} */ to, /** @type {string} */ text) => el('a', { href: appHref(to), dataset: { nav: to } }, text);
  nav.replaceChildren(
    el('a', { class: 'brand', href: appHref('/search') }, 'tracegate'),
    link('/search', 'Search'),
    link('/compare', 'Compare'),
    link('/dependencies', 'Dependencies'),
    link('/monitor', 'Monitor'),
    link('/upload', 'Upload'),
    el('span', { class: 'spacer' }),
    navTraceLookup(),
    el('button', {
      id: 'theme-toggle', type: 'button', class: 'btn ghost', title: 'Switch light/dark theme',
      onclick: () => {
        const next = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
        localStorage.setItem(THEME_KEY, next);
        applyTheme(next);
      },
    }),
  );
}

// Links inside the app navigate without a reload; API links, downloads and new tabs do not.
document.addEventListener('click', (ev) => {
  if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  const a = /** @type {HTMLElement | null} */ (ev.target instanceof Element ? ev.target.closest('a[href]') : null);
  if (!a || a.hasAttribute('download') || a.getAttribute('target')) return;
  const url = new URL(/** @type {HTMLAnchorElement} */ (a).href);
  if (url.origin !== location.origin || !url.pathname.startsWith(basePath)) return;
  const rel = url.pathname.slice(basePath.length);
  if (rel.startsWith('api/') || rel.startsWith('static/')) return;
  ev.preventDefault();
  navigate('/' + rel + url.search);
});
addEventListener('popstate', () => route());

buildNav();
applyTheme(initialTheme());
route().then(() => {
  // Load the two main pages once the first is shown, so moving between search and a trace
  // needs no module fetch and still works (with a proper error state) if the server goes down.
  const warm = () => { import('./pages/search.js').catch(() => {}); import('./pages/trace.js').catch(() => {}); };
  if ('requestIdleCallback' in window) requestIdleCallback(warm, { timeout: 2000 });
  else setTimeout(warm, 200);
});
