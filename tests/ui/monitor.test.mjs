// @ts-check
/**
 * The Monitor page in headless chromium: services with their request rate, error % and p95
 * latency from the store's RED metrics (spans with known durations and errors), each plotted;
 * a service opens to its operations; the 24 h view (read from the store's roll-ups) shows the
 * spans of the current block; another span kind shows the empty state.
 */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { launchBrowser, newPage, otlpTrace, screenshot, sendOtlpJson, startGateway, waitForTraces } from './harness.mjs';

/** @type {import('./harness.mjs').Gateway} */
let gw;
/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
  gw = await startGateway();
  browser = await launchBrowser();
  const baseMs = Date.now() - 120_000;
  // shop: 40 server spans of GET /cart (10 ms, the first 10 failed) and 8 of PUT /cart (40 ms);
  // auth: 20 server spans of login (100 ms); one client span that the server view leaves out.
  /** @type {import('./harness.mjs').SpanSpec[]} */
  const spans = [];
  for (let i = 1; i <= 40; i++) spans.push({ id: `a${i}`, service: 'shop', name: 'GET /cart', kind: 'server', start: i, duration: 10, error: i <= 10 });
  for (let i = 1; i <= 8; i++) spans.push({ id: `b${i}`, service: 'shop', name: 'PUT /cart', kind: 'server', start: i, duration: 40 });
  for (let i = 1; i <= 20; i++) spans.push({ id: `c${i}`, service: 'auth', name: 'login', kind: 'server', start: i, duration: 100 });
  spans.push({ id: 'd1', service: 'shop', name: 'call db', kind: 'client', start: 1, duration: 1 });
  await sendOtlpJson(gw, otlpTrace({ traceId: 'ab01', baseMs, spans }));
  await waitForTraces(gw, ['ab01'], [spans.length]);
});

after(async () => {
  await browser?.close();
  await gw?.stop();
});

describe('monitor', () => {
  it('lists services with rate, error % and p95, plotted, and opens one to its operations', async () => {
    const { page, errors } = await newPage(browser);
    await page.goto(`${gw.url}/monitor`);
    await page.waitForSelector('.mon-service');
    const rows = await page.$$eval('.mon-service', (trs) => trs.map((tr) => ({
      service: tr.getAttribute('data-service'),
      rate: tr.querySelector('.mon-rate')?.textContent,
      errors: tr.querySelector('.mon-errors')?.textContent,
      p95: tr.querySelector('.mon-p95')?.textContent,
      points: [...tr.querySelectorAll('svg.mon-chart')].map((s) => Number(s.getAttribute('data-points'))),
    })));
    assert.deepEqual(rows.map((r) => r.service), ['auth', 'shop']);
    const shop = rows.find((r) => r.service === 'shop');
    const auth = rows.find((r) => r.service === 'auth');
    // One hour at a point a minute, each over five minutes: 48 shop calls / 300 s.
    assert.equal(shop?.rate, '0.160 req/s');
    assert.equal(shop?.errors, '20.8%', '10 of 48 server calls failed');
    assert.equal(auth?.rate, '0.067 req/s');
    assert.equal(auth?.errors, '0.0%');
    // p95 of 40 x 10 ms and 8 x 40 ms is 40 ms; of auth 100 ms (the histogram is within 12.5%).
    const ms = (/** @type {string | null | undefined} */ t) => Number(String(t).replace('ms', ''));
    assert.ok(Math.abs(ms(shop?.p95) - 40) <= 5, `shop p95 ${shop?.p95}`);
    assert.ok(Math.abs(ms(auth?.p95) - 100) <= 12.5, `auth p95 ${auth?.p95}`);
    for (const r of rows) assert.ok(r.points.every((n) => n > 0), `${r.service} has a plotted line in each chart: ${r.points}`);
    await screenshot(page, 'page-monitor');

    await page.click('.mon-service[data-service="shop"] .mon-name button');
    await page.waitForURL((u) => u.pathname.endsWith('/monitor') && u.searchParams.get('service') === 'shop');
    await page.waitForSelector('tr.mon-ops');
    const ops = await page.$$eval('tr.mon-ops', (trs) => trs.map((tr) => [tr.getAttribute('data-operation'), tr.querySelector('.mon-errors')?.textContent]));
    assert.deepEqual(ops, [['GET /cart', '25.0%'], ['PUT /cart', '0.0%']]);
    await screenshot(page, 'page-monitor-operations');
    assert.deepEqual(errors, []);
    await page.context().close();
  });

  it('shows the last 24 h from the ten-minute roll-ups, this block included', async () => {
    const { page, errors } = await newPage(browser);
    await page.goto(`${gw.url}/monitor?lookback=24h`);
    await page.waitForSelector('.mon-service');
    assert.match(await page.textContent('.mon-body p.muted') || '', /a point every 30 min, each over 30 min/);
    const shop = await page.$eval('.mon-service[data-service="shop"]', (tr) => ({
      rate: Number((tr.querySelector('.mon-rate')?.textContent || '').replace(' req/s', '')),
      errors: tr.querySelector('.mon-errors')?.textContent,
    }));
    // The last point ends the current ten-minute block, 0-10 min from now: its 48 calls are
    // counted over the 20-30 min of its window that have passed.
    assert.ok(shop.rate >= 48 / 1800 - 0.0005 && shop.rate <= 48 / 1200 + 0.0005, `shop rate ${shop.rate}`);
    assert.equal(shop.errors, '20.8%', '10 of 48 server calls failed');
    assert.deepEqual(errors, []);
    await page.context().close();
  });

  it('shows the empty state for a span kind with no calls', async () => {
    const { page } = await newPage(browser);
    await page.goto(`${gw.url}/monitor?lookback=15m&kind=consumer`);
    await page.waitForSelector('.state-empty');
    assert.match(await page.textContent('.state-empty') || '', /No calls in this window/);
    await page.context().close();
  });
});
