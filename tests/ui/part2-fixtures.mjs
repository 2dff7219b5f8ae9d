// @ts-check
/**
 * Known traces for the tests of the alternative views, compare, dependencies and upload, with
 * the numbers a person would read off the pages worked out by hand (times in ms from the
 * trace's start):
 *
 * CHECKOUT_A (6 spans + email):            CHECKOUT_B:
 *   frontend GET /checkout   0..100          frontend GET /checkout   0..120
 *     cart getCart          10..40             cart getCart          10..40
 *     payment charge        20..70             payment charge        20..100
 *       payment db.query    30..40               payment db.query ×3 (30, 50, 70; 10 each)
 *       payment db.query    50..60 (error)       fraud check         85..95
 *     cart getCart          80..90
 *     email send            92..97
 *
 * Self time of A: root 100 - |[10,70] ∪ [80,90] ∪ [92,97]| = 100 - 75 = 25; getCart 30 and 10;
 * charge 50 - 20 = 30; db.query 10 and 10; send 5.
 */

import { otlpTrace, sendOtlpJson, waitForTraces } from './harness.mjs';

export const A_ID = 'c0ffee00000000a1';
export const B_ID = 'c0ffee00000000b2';
export const CYCLE_ID = 'c0ffee00000000c3';

/** @param {number} baseMs */
export function checkoutA(baseMs) {
  return otlpTrace({
    traceId: A_ID, baseMs,
    spans: [
      { id: '1', service: 'frontend', name: 'GET /checkout', start: 0, duration: 100, kind: 'server', attributes: { 'http.method': 'GET' } },
      { id: '2', parent: '1', service: 'cart', name: 'getCart', start: 10, duration: 30, kind: 'server' },
      { id: '3', parent: '1', service: 'payment', name: 'charge', start: 20, duration: 50, kind: 'server' },
      { id: '4', parent: '3', service: 'payment', name: 'db.query', start: 30, duration: 10, kind: 'client' },
      { id: '5', parent: '3', service: 'payment', name: 'db.query', start: 50, duration: 10, kind: 'client', error: true },
      { id: '6', parent: '1', service: 'cart', name: 'getCart', start: 80, duration: 10, kind: 'server' },
      { id: '7', parent: '1', service: 'email', name: 'send', start: 92, duration: 5, kind: 'producer' },
    ],
  });
}

/** @param {number} baseMs */
export function checkoutB(baseMs) {
  return otlpTrace({
    traceId: B_ID, baseMs,
    spans: [
      { id: '1', service: 'frontend', name: 'GET /checkout', start: 0, duration: 120, kind: 'server' },
      { id: '2', parent: '1', service: 'cart', name: 'getCart', start: 10, duration: 30, kind: 'server' },
      { id: '3', parent: '1', service: 'payment', name: 'charge', start: 20, duration: 80, kind: 'server' },
      { id: '4', parent: '3', service: 'payment', name: 'db.query', start: 30, duration: 10, kind: 'client' },
      { id: '5', parent: '3', service: 'payment', name: 'db.query', start: 50, duration: 10, kind: 'client' },
      { id: '6', parent: '3', service: 'payment', name: 'db.query', start: 70, duration: 10, kind: 'client' },
      { id: '7', parent: '3', service: 'fraud', name: 'check', start: 85, duration: 10, kind: 'server' },
    ],
  });
}

/** fraud calls back into frontend: a cycle frontend -> payment -> fraud -> frontend. */
export function callback(/** @type {number} */ baseMs) {
  return otlpTrace({
    traceId: CYCLE_ID, baseMs,
    spans: [
      { id: '1', service: 'fraud', name: 'callback', start: 0, duration: 20, kind: 'client' },
      { id: '2', parent: '1', service: 'frontend', name: 'POST /notify', start: 2, duration: 15, kind: 'server' },
    ],
  });
}

/**
 * One trace through 50 services `svc-00`..`svc-49`: each calls up to two later ones (a wide,
 * deep graph), and `svc-49` also calls `svc-10` (an edge across the tree).
 * @param {number} baseMs
 */
export function fiftyServices(baseMs) {
  /** @type {import('./harness.mjs').SpanSpec[]} */
  const spans = [];
  const name = (/** @type {number} */ i) => `svc-${String(i).padStart(2, '0')}`;
  for (let i = 0; i < 50; i++) {
    const parent = i === 0 ? undefined : String(Math.floor((i - 1) / 2) + 1);
    spans.push({ id: String(i + 1), parent, service: name(i), name: 'handle', start: i, duration: 100 - i, kind: 'server' });
  }
  spans.push({ id: '99', parent: '50', service: name(10), name: 'again', start: 60, duration: 1, kind: 'server' });
  return otlpTrace({ traceId: 'c0ffee00000000d4', baseMs, spans });
}

/**
 * Sends every fixture trace and waits until the store serves them whole.
 * @param {import('./harness.mjs').Gateway} gw
 */
export async function sendFixtures(gw) {
  const base = Date.now() - 10 * 60_000;
  await sendOtlpJson(gw, checkoutA(base));
  await sendOtlpJson(gw, checkoutB(base + 1000));
  await sendOtlpJson(gw, callback(base + 2000));
  await sendOtlpJson(gw, fiftyServices(base + 3000));
  await waitForTraces(gw, [A_ID, B_ID, CYCLE_ID, 'c0ffee00000000d4'], [7, 7, 2, 51]);
}

/**
 * Shows a view module on a page of the app, rendering the trace fetched from the API, as the
 * trace page's tabs do; returns once `render` returned.
 * @param {import('playwright-core').Page} page
 * @param {string} gatewayUrl
 * @param {string} view `graph`, `stats`, `flamegraph` or `json`
 * @param {string} traceId
 */
export async function showView(page, gatewayUrl, view, traceId) {
  await page.goto(`${gatewayUrl}/upload`);
  await page.waitForSelector('nav.top a');
  await page.evaluate(async ([v, id]) => {
    const { normalizeTrace } = await import('/static/model.js');
    const { render } = await import(`/static/views/${v}.js`);
    const resp = await fetch(`/api/traces/${id}`);
    const jt = (await resp.json()).data[0];
    const host = document.createElement('div');
    host.id = 'view-under-test';
    /** @type {HTMLElement} */ (document.getElementById('page')).replaceChildren(host);
    render(host, normalizeTrace(jt));
  }, [view, traceId]);
}
