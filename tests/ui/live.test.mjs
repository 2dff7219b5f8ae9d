// @ts-check
/**
 * Live tail in headless chromium: the control (`live/tail.js`) opened on a page of the app
 * receives a trace sent through the OTLP receiver after the page opened, not a trace of another
 * service; pause holds arrivals and resume delivers them; a bad search is an error state with
 * the API's message. The control is mounted the way the search page mounts it.
 */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { launchBrowser, newPage, otlpTrace, screenshot, sendOtlpJson, startGateway, waitForTraces, waitUntil } from './harness.mjs';

/** @type {import('./harness.mjs').Gateway} */
let gw;
/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
  gw = await startGateway();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await gw?.stop();
});

/**
 * Mounts a live tail for `params` on the page; arrivals collect in `window.__arrived`, errors
 * in `window.__liveErrors`.
 * @param {import('playwright-core').Page} page
 * @param {Record<string, string>} params
 */
async function mountTail(page, params) {
  await page.goto(`${gw.url}/upload`);
  await page.waitForSelector('nav.top a');
  await page.evaluate(async (p) => {
    const { createLiveTail } = await import('/static/live/tail.js');
    const w = /** @type {any} */ (window);
    w.__arrived = [];
    w.__liveErrors = [];
    const tail = createLiveTail({ params: new URLSearchParams(p), onTraces: (ts) => w.__arrived.push(...ts), onError: (e) => w.__liveErrors.push(`${/** @type {any} */ (e).status} ${e.message}`) });
    /** @type {HTMLElement} */ (document.getElementById('page')).replaceChildren(tail.element);
    w.__tail = tail;
  }, params);
}

/** @param {import('playwright-core').Page} page @returns {Promise<string[]>} */
const arrivedIds = (page) => page.evaluate(() => /** @type {any} */ (window).__arrived.map((/** @type {any} */ t) => t.traceID));

/** @param {string} id @param {string} service */
const oneSpan = (id, service) => otlpTrace({ traceId: id, baseMs: Date.now() - 500, spans: [{ id: '1', service, name: 'tick', start: 0, duration: 5, kind: 'server' }] });

describe('live tail', () => {
  it('streams a matching trace sent after the page opened, with a rate, pause and resume', async () => {
    const { page, errors } = await newPage(browser);
    await mountTail(page, { service: 'live-svc', lookback: '1h' });
    // A trace stored before the tail opens is history, not news.
    await sendOtlpJson(gw, oneSpan('1100', 'live-svc'));
    await waitForTraces(gw, ['0000000000001100']);
    await page.click('.live-toggle');
    await page.waitForSelector('.live[data-state=live]');

    await sendOtlpJson(gw, oneSpan('2200', 'other-svc'));
    await sendOtlpJson(gw, oneSpan('3300', 'live-svc'));
    await waitUntil(async () => (await arrivedIds(page)).includes('0000000000003300'), 'the live trace to arrive in the page');
    assert.deepEqual(await arrivedIds(page), ['0000000000003300'], 'neither the old trace nor the other service\'s');
    assert.match(await page.textContent('.live-rate') || '', /^\d+\.\d traces\/s/);
    await screenshot(page, 'live-tail');

    await page.click('.live-pause');
    assert.equal(await page.getAttribute('.live', 'data-state'), 'paused');
    await sendOtlpJson(gw, oneSpan('4400', 'live-svc'));
    await page.waitForFunction(() => /** @type {HTMLElement} */ (document.querySelector('.live')).dataset.received === '2');
    assert.deepEqual(await arrivedIds(page), ['0000000000003300'], 'held while paused');
    await page.click('.live-pause');
    await waitUntil(async () => (await arrivedIds(page)).includes('0000000000004400'), 'the held trace after resume');

    await page.click('.live-toggle');
    assert.equal(await page.getAttribute('.live', 'data-state'), 'off');
    assert.deepEqual(await page.evaluate(() => /** @type {any} */ (window).__liveErrors), []);
    assert.deepEqual(errors, []);
    await page.context().close();
  });

  it('on the search page, a trace sent after the page opened joins the results', async () => {
    const { page, errors } = await newPage(browser);
    await sendOtlpJson(gw, oneSpan('5500', 'live-page'));
    await waitForTraces(gw, ['0000000000005500']);
    await page.goto(`${gw.url}/search?service=live-page&lookback=1h`);
    await page.waitForSelector('.result-row[data-trace-id="0000000000005500"]');
    await page.click('.live-toggle');
    await page.waitForSelector('.live[data-state=live]');
    await sendOtlpJson(gw, oneSpan('6600', 'live-page'));
    await page.waitForSelector('.result-row[data-trace-id="0000000000006600"]');
    await screenshot(page, 'page-search-live');
    assert.deepEqual(errors, []);
    await page.context().close();
  });

  it('under a base_path the tail, its styles and the other part-2 pages live below the prefix', async () => {
    const based = await startGateway(`
receivers:
  otlp:
    protocols:
      http: { endpoint: "127.0.0.1:{{port:otlp_http}}" }
exporters:
  memory: {}
extensions:
  jaeger_query:
    storage: memory
    base_path: /jaeger
    http: { endpoint: "127.0.0.1:{{port:query}}" }
service:
  extensions: [jaeger_query]
  pipelines:
    traces: { receivers: [otlp], exporters: [memory] }
`);
    try {
      const { page, errors } = await newPage(browser);
      await sendOtlpJson(based, oneSpan('7700', 'based-svc'));
      await waitForTraces(based, ['0000000000007700'], undefined, '/jaeger');
      await page.goto(`${based.url}/jaeger/search?service=based-svc&lookback=1h`);
      await page.waitForSelector('.result-row[data-trace-id="0000000000007700"]');
      await page.click('.live-toggle');
      await page.waitForSelector('.live[data-state=live]');
      await sendOtlpJson(based, oneSpan('8800', 'based-svc'));
      await page.waitForSelector('.result-row[data-trace-id="0000000000008800"]');
      // views.css came from /jaeger/static/views/views.css: the live dot is styled.
      assert.equal(await page.$eval('.live-dot', (d) => getComputedStyle(d).borderRadius), '50%');
      for (const [url, selector] of [['/jaeger/dependencies', '.state-empty'], ['/jaeger/upload', '.up-drop'], ['/jaeger/compare', '.cmp-form']]) {
        await page.goto(`${based.url}${url}`);
        await page.waitForSelector(selector);
      }
      assert.deepEqual(errors, []);
      await page.context().close();
    } finally {
      await based.stop();
    }
  });

  it('a search the API refuses stops the tail with the API\'s message', async () => {
    const { page } = await newPage(browser);
    await mountTail(page, { service: 'live-svc', minDuration: '10' });
    await page.click('.live-toggle');
    await page.waitForSelector('.live[data-state=error]');
    const msgs = await page.evaluate(() => /** @type {any} */ (window).__liveErrors);
    assert.equal(msgs.length, 1);
    assert.match(msgs[0], /^400 Live tail stopped: unable to parse param 'minDuration': time: missing unit in duration "10"$/);
    await page.context().close();
  });
});
