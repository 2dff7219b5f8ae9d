// @ts-check
/**
 * The UI's only way to the server: Jaeger's public `/api/...` endpoints, so the same pages work
 * against tracegate and against a real Jaeger. Paths are relative to the document's
 * `<base href>`, which the server sets to the `base_path`, so a reverse-proxy prefix needs no
 * code here.
 */

import { askForToken, currentToken, forgetToken, tokenChallenge, withAuth } from './auth.js';
import { tenancyReady, withTenant } from './tenancy.js';

/** An API failure: `status` is the HTTP status (0 when the server could not be reached). */
export class ApiError extends Error {
  /** @param {string} message @param {number} status */
  constructor(message, status) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

/**
 * GET a JSON document. `params` values that are arrays repeat the key (Jaeger's `tag=`);
 * empty values are left out. Throws ApiError with the API's own message (Jaeger's envelope
 * `{errors: [{code, msg}]}`) on a non-2xx answer, and with status 0 when the server is down.
 * @param {string} path relative to the base, e.g. `api/services`
 * @param {Record<string, string | number | string[] | undefined | null> | URLSearchParams} [params]
 * @returns {Promise<any>}
 */
export async function getJSON(path, params) {
  const url = new URL(path.replace(/^\//, ''), document.baseURI);
  if (params instanceof URLSearchParams) {
    params.forEach((v, k) => url.searchParams.append(k, v));
  } else if (params) {
    for (const [k, v] of Object.entries(params)) {
      for (const one of Array.isArray(v) ? v : [v]) {
        if (one !== undefined && one !== null && one !== '') url.searchParams.append(k, String(one));
      }
    }
  }
  // The tenant to ask for is known once the page has read the tenancy settings.
  await tenancyReady;
  let resp;
  try {
    resp = await fetch(url, { headers: withTenant(withAuth({ Accept: 'application/json' })) });
  } catch (e) {
    throw new ApiError(`No answer from ${url.pathname} (${e instanceof Error ? e.message : e}): is tracegate running and reachable?`, 0);
  }
  const text = await resp.text();
  /** @type {any} */
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!resp.ok) {
    // A server that wants a token the page must send (see auth.js): ask for one.
    const scheme = tokenChallenge(resp);
    if (scheme) {
      const refused = currentToken() !== null;
      if (refused) forgetToken();
      askForToken(scheme, refused);
    }
    const msg = body?.errors?.[0]?.msg || text.trim() || resp.statusText || 'request failed';
    throw new ApiError(`${msg} (HTTP ${resp.status})`, resp.status);
  }
  if (body === null) throw new ApiError(`The answer from ${url.pathname} is not JSON`, resp.status);
  return body;
}

/**
 * Search: params as Jaeger's `/api/traces` takes them (service, operation, tags (JSON),
 * start, end (µs), lookback, minDuration, maxDuration, limit).
 * @param {Record<string, any> | URLSearchParams} params
 * @returns {Promise<any[]>} Jaeger traces
 */
export async function searchTraces(params) {
  const body = await getJSON('api/traces', params);
  return Array.isArray(body?.data) ? body.data : [];
}

/**
 * Search, with the server's notes: the messages of the answer's `errors` entries (a trace id
 * not found, a limit clamped to the server's maximum, an answer cut at its byte budget).
 * @param {Record<string, any> | URLSearchParams} params as for `searchTraces`
 * @returns {Promise<{traces: any[], notes: string[]}>}
 */
export async function searchTracesWithNotes(params) {
  const body = await getJSON('api/traces', params);
  const errors = Array.isArray(body?.errors) ? body.errors : [];
  const notes = errors.map((/** @type {any} */ e) => (e?.traceID ? `${e.traceID}: ${e?.msg || ''}` : String(e?.msg || ''))).filter(Boolean);
  return { traces: Array.isArray(body?.data) ? body.data : [], notes };
}

/**
 * One trace by id. Throws ApiError with status 404 when it is not stored.
 * @param {string} id
 * @returns {Promise<any>} a Jaeger trace
 */
export async function getTrace(id) {
  const body = await getJSON(`api/traces/${encodeURIComponent(id)}`);
  const trace = Array.isArray(body?.data) ? body.data[0] : null;
  if (!trace) throw new ApiError(`trace ${id} not found`, 404);
  return trace;
}

/** @returns {Promise<string[]>} service names, sorted */
export async function getServices() {
  const body = await getJSON('api/services');
  return (Array.isArray(body?.data) ? body.data : []).slice().sort();
}

/**
 * @param {string} service
 * @returns {Promise<string[]>} operation names of the service, sorted
 */
export async function getOperations(service) {
  const body = await getJSON(`api/services/${encodeURIComponent(service)}/operations`);
  return (Array.isArray(body?.data) ? body.data : []).slice().sort();
}

/**
 * @param {number} endTs milliseconds since the epoch
 * @param {number} lookback milliseconds
 * @returns {Promise<{parent: string, child: string, callCount: number}[]>}
 */
export async function getDependencies(endTs, lookback) {
  const body = await getJSON('api/dependencies', { endTs: Math.round(endTs), lookback: Math.round(lookback) });
  return Array.isArray(body?.data) ? body.data : [];
}

/** The functions pages receive as `ctx.api`. */
export const api = { getJSON, searchTraces, searchTracesWithNotes, getTrace, getServices, getOperations, getDependencies };
