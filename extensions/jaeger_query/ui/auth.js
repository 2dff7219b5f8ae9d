// @ts-check
/**
 * The credentials the UI carries when its server asks for a token rather than a password.
 *
 * Basic auth needs nothing here: the browser asks for the password itself (its own dialog) and
 * sends it with every request of the origin. A bearer token (the `bearertokenauth` or `oidc`
 * authenticator) is something the page must hold and send, so:
 *
 * - It arrives in the URL fragment, `#access_token=<token>` (or `#token=`), as an OAuth
 *   implicit-flow redirect or a link handed to a user gives it. The fragment never reaches a
 *   server, a proxy log or a Referer. It is read before the router runs and removed from the
 *   address bar at once, so a copied or bookmarked URL never carries it.
 * - Or the page asks for it: when an API call is refused with a non-Basic challenge
 *   (`WWW-Authenticate: Bearer ...`), a sign-in form with a password field takes the token.
 * - It is kept in `sessionStorage`: one tab, gone when the tab closes, never a cookie, so no
 *   other site can make the browser send it (no CSRF) and it outlives no session.
 * - Every API call sends it as `Authorization: <scheme> <token>`, the scheme being the one the
 *   server's challenge named (Bearer unless `bearertokenauth` sets another).
 *
 * This is the approach of Grafana's and Jaeger's token-forwarding setups reduced to what a
 * static page can do safely; the page's Content-Security-Policy (no inline or foreign script)
 * is what keeps a token in `sessionStorage` out of reach of injected code.
 * Known limit: the live tail streams with EventSource, which cannot send headers, so under a
 * bearer token it reports the refusal instead of streaming.
 */

const TOKEN_KEY = 'tracegate.token';
const SCHEME_KEY = 'tracegate.token.scheme';

/** Moves a token from the URL fragment into the session, and out of the address bar. */
function captureFragmentToken() {
  const fragment = location.hash.replace(/^#/, '');
  if (!fragment.includes('token=')) return;
  const params = new URLSearchParams(fragment);
  const token = params.get('access_token') || params.get('token');
  if (!token) return;
  store(token, 'Bearer');
  for (const k of ['access_token', 'token', 'token_type', 'expires_in', 'scope', 'state']) params.delete(k);
  const rest = params.toString();
  history.replaceState(history.state, '', location.pathname + location.search + (rest ? `#${rest}` : ''));
}

/** @param {string} token @param {string} scheme */
function store(token, scheme) {
  try {
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(SCHEME_KEY, scheme);
  } catch { /* storage disabled: the token lives as long as this page */ memory = { token, scheme }; }
}

/** @type {{token: string, scheme: string} | null} */
let memory = null;

/** The token of this session and its scheme, if any. */
export function currentToken() {
  try {
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) return { token, scheme: sessionStorage.getItem(SCHEME_KEY) || 'Bearer' };
  } catch { /* fall through */ }
  return memory;
}

/** Forgets the session's token (a refused one, or on sign-out). */
export function forgetToken() {
  memory = null;
  try {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(SCHEME_KEY);
  } catch { /* nothing stored */ }
}

/**
 * `headers` plus the session's `Authorization`, when it has a token.
 * @param {Record<string, string>} [headers]
 * @returns {Record<string, string>}
 */
export function withAuth(headers = {}) {
  const t = currentToken();
  return t ? { ...headers, Authorization: `${t.scheme} ${t.token}` } : headers;
}

/**
 * The scheme a refusal asks for when it wants a token the page must send: the challenge's
 * first word, unless it is one the browser answers itself (Basic, Digest). Null otherwise.
 * @param {Response} resp
 * @returns {string | null}
 */
export function tokenChallenge(resp) {
  if (resp.status !== 401) return null;
  const scheme = (resp.headers.get('www-authenticate') || '').trim().split(/\s+/)[0] || '';
  return scheme && !/^(basic|digest)$/i.test(scheme) ? scheme : null;
}

/**
 * Shows the sign-in form (once): the token typed there is kept for the session and the page
 * reloads with it.
 * @param {string} scheme what the server's challenge asked for
 * @param {boolean} refused whether the session's token was just refused
 */
export function askForToken(scheme, refused) {
  if (document.querySelector('.token-login')) return;
  const input = document.createElement('input');
  Object.assign(input, { type: 'password', name: 'token', autocomplete: 'off', required: true, placeholder: 'Token' });
  input.setAttribute('aria-label', `${scheme} token`);
  const button = document.createElement('button');
  Object.assign(button, { type: 'submit', className: 'btn primary', textContent: 'Sign in' });
  const title = document.createElement('div');
  Object.assign(title, { className: 'state-title', textContent: 'Sign in to tracegate' });
  const detail = document.createElement('div');
  detail.className = 'state-detail';
  detail.textContent = refused
    ? 'The server refused the token of this session. Paste a valid token.'
    : `This tracegate asks for a ${scheme} token. Paste yours; it is kept in this tab only.`;
  const form = document.createElement('form');
  form.className = 'token-login state';
  form.append(title, detail, input, button);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    store(token, scheme);
    location.reload();
  });
  // Over the page rather than in it: the page renders its own refusal below, which must not
  // replace the form.
  const overlay = document.createElement('div');
  overlay.className = 'token-overlay';
  overlay.append(form);
  document.body.append(overlay);
  input.focus();
}

captureFragmentToken();
