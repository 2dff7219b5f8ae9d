// @ts-check
/**
 * Known traces for the part-1 browser tests (search, trace view), built with the harness's
 * `otlpTrace` so each test can state exactly what the UI must show.
 */

import { otlpTrace } from './harness.mjs';

const now = Date.now();

/** Checkout: 7 spans over 3 services, depth 4, one error with an event, cross-service calls. */
export const CHECKOUT = {
  traceId: 'a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1',
  baseMs: now - 120_000,
  resources: { payment: { 'host.name': 'pay-1', 'service.version': '2.3.1' } },
  spans: [
    { id: '1', service: 'frontend', name: 'GET /checkout', kind: 'server', start: 0, duration: 120, attributes: { 'http.method': 'GET', 'http.status_code': 500 } },
    { id: '2', parent: '1', service: 'frontend', name: 'call-cart', kind: 'client', start: 5, duration: 35 },
    { id: '3', parent: '2', service: 'cart', name: 'GET /cart', kind: 'server', start: 7, duration: 31 },
    { id: '4', parent: '3', service: 'cart', name: 'redis GET', kind: 'client', start: 10, duration: 10, attributes: { 'db.system': 'redis' } },
    { id: '5', parent: '1', service: 'frontend', name: 'call-payment', kind: 'client', start: 45, duration: 70 },
    {
      id: '6', parent: '5', service: 'payment', name: 'charge', kind: 'server', start: 47, duration: 65, error: true,
      attributes: { 'http.status_code': 500, 'payment.amount': 42.5, 'customer.tier': 'gold' },
      events: [{ name: 'retry', at: 60, attributes: { attempt: 2, reason: 'card declined' } }],
    },
    { id: '7', parent: '6', service: 'payment', name: 'db.query', kind: 'client', start: 50, duration: 50, attributes: { 'db.statement': 'SELECT * FROM cards' } },
  ],
};

/** Health: one quick span. */
export const HEALTH = {
  traceId: 'b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2',
  baseMs: now - 60_000,
  spans: [{ id: '11', service: 'frontend', name: 'GET /health', kind: 'server', start: 0, duration: 2 }],
};

/** A slow checkout without errors: the longest trace. */
export const SLOW = {
  traceId: 'c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3',
  baseMs: now - 30_000,
  spans: [
    { id: '21', service: 'frontend', name: 'GET /checkout', kind: 'server', start: 0, duration: 300 },
    { id: '22', parent: '21', service: 'frontend', name: 'call-cart', kind: 'client', start: 10, duration: 250 },
    { id: '23', parent: '22', service: 'cart', name: 'GET /cart', kind: 'server', start: 12, duration: 245 },
  ],
};

export const ALL = [CHECKOUT, HEALTH, SLOW];

/** @param {typeof CHECKOUT} spec */
export const body = (spec) => otlpTrace(spec);

/**
 * A trace of `n` spans: one root, `fanout` children under it, the rest spread below them
 * (depth 3), over a few services.
 * @param {string} traceId
 * @param {number} n
 */
export function bigTrace(traceId, n, fanout = 100) {
  const services = ['gateway', 'orders', 'inventory', 'billing', 'search'];
  /** @type {import('./harness.mjs').SpanSpec[]} */
  const spans = [{ id: '1', service: 'gateway', name: 'POST /batch', kind: 'server', start: 0, duration: 5000 }];
  for (let i = 0; i < fanout && spans.length < n; i++) {
    spans.push({ id: (2 + i).toString(16), parent: '1', service: services[i % 5], name: `step-${i}`, start: i * 40, duration: 45 });
  }
  for (let j = 0; spans.length < n; j++) {
    const parent = j % fanout;
    spans.push({
      id: (0x10000 + j).toString(16), parent: (2 + parent).toString(16), service: services[(j + 1) % 5], name: `work-${j % 37}`,
      start: parent * 40 + (j % 40), duration: 1 + (j % 5), attributes: { 'item.index': j }, error: j % 997 === 0,
    });
  }
  return otlpTrace({ traceId, baseMs: Date.now() - 20_000, spans });
}

/** A consumer span whose parent never arrived, linked to the checkout's charge span. */
export const ORPHAN = {
  traceId: 'd4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4',
  baseMs: now - 10_000,
  spans: [
    { id: '31', parent: '99', service: 'worker', name: 'consume', kind: 'consumer', start: 0, duration: 8, links: [{ traceId: CHECKOUT.traceId, spanId: '6' }] },
    { id: '32', parent: '31', service: 'worker', name: 'process', start: 1, duration: 5 },
  ],
};
