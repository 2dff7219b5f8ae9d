// @ts-check
// Empty, loading and error states against the real binary: no services yet, trace not found,
// the API going down under an open page, an unknown page, and the UI under a base_path.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { HEALTH, body } from './fixtures.mjs';
import { launchBrowser, newPage, screenshot, sendOtlpJson, startGateway, waitForTraces } from './harness.mjs';

/** @type {import('playwright-core').Browser} */
let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

/** Console noise a failed request causes by design (404 and connection errors). */
const unexpected = (/** @type {string[]} */ errors) => errors.filter((e) => !/Failed to load resource/.test(e));

describe('states', () => {
  test('an empty store says there are no services yet', async () => {
    const gw = await startGateway();
    try {
      const { page, errors } = await newPage(browser);
      await page.goto(`${gw.url}/search`);
      await page.waitForSelector('.search-results .state-empty');
      assert.match(await page.innerText('.search-results .state-empty'), /No services yet/);
      assert.equal(await page.innerText('#search-service option'), 'No services yet');
      await screenshot(page, 'state-no-services');
      assert.deepEqual(unexpected(errors), []);
      await page.context().close();
    } finally {
      await gw.stop();
    }
  });

  test('slow answers show loading states; nothing overflows 1280x800', async () => {
    const gw = await startGateway();
    try {
      await sendOtlpJson(gw, body(HEALTH));
      await waitForTraces(gw, [HEALTH.traceId]);
      const { page, errors } = await newPage(browser);
      /** @type {(() => void)[]} */
      const held = [];
      await page.route(/\/api\/traces/, (route) => { held.push(() => route.continue()); });
      await page.goto(`${gw.url}/search?service=frontend`);
      await page.waitForSelector('.search-results .state-loading >> text=Searching…');
      await screenshot(page, 'state-loading-search');
      held.splice(0).forEach((go) => go());
      await page.waitForSelector('.result-row');
      await page.click('.result-title');
      await page.waitForSelector(`.state-loading >> text=Loading trace ${HEALTH.traceId}…`);
      held.splice(0).forEach((go) => go());
      await page.waitForSelector('.tl-row');
      await page.unroute(/\/api\/traces/);
      for (const url of [`/trace/${HEALTH.traceId}`, '/search?service=frontend']) {
        await page.goto(`${gw.url}${url}`);
        await page.waitForSelector('.tl-row, .result-row');
        const width = await page.evaluate(() => Math.max(document.documentElement.scrollWidth, /** @type {HTMLElement} */ (document.getElementById('page')).scrollWidth));
        assert.ok(width <= 1280, `${url} is ${width}px wide at 1280x800`);
      }
      assert.deepEqual(errors, []);
      await page.context().close();
    } finally {
      await gw.stop();
    }
  });

  test('a trace that is not stored says so; an unknown page too', async () => {
    const gw = await startGateway();
    try {
      const { page, errors } = await newPage(browser);
      await page.goto(`${gw.url}/trace/00000000000000000000000000000bad`);
      await page.waitForSelector('.state-error');
      assert.match(await page.innerText('.state-error'), /Trace 00000000000000000000000000000bad not found/);
      await screenshot(page, 'state-trace-not-found');
      // An id the API refuses (not hex) shows the API's own message.
      await page.goto(`${gw.url}/trace/not-a-trace-id`);
      await page.waitForSelector('.state-error');
      assert.match(await page.innerText('.state-error'), /could not be loaded[\s\S]*HTTP 400/);
      // The router's own not-found, reached by navigating inside the app.
      await page.evaluate(() => { history.pushState(null, '', '/nowhere'); dispatchEvent(new PopStateEvent('popstate')); });
      await page.waitForSelector('.state-error >> text=Page not found');
      assert.deepEqual(unexpected(errors), []);
      await page.context().close();
    } finally {
      await gw.stop();
    }
  });

  test('the API going down under an open page shows an error, not a blank page', async () => {
    const gw = await startGateway();
    let stopped = false;
    try {
      await sendOtlpJson(gw, body(HEALTH));
      await waitForTraces(gw, [HEALTH.traceId]);
      const { page } = await newPage(browser);
      await page.goto(`${gw.url}/search?service=frontend`);
      await page.waitForSelector('.result-row');
      // The app loads the trace page's module in the background once the first page is shown.
      await page.waitForFunction(() => performance.getEntriesByType('resource').some((e) => e.name.endsWith('/static/pages/trace.js')));
      await gw.stop();
      stopped = true;
      await page.click('#search-submit');
      await page.waitForSelector('.search-results .state-error');
      assert.match(await page.innerText('.search-results .state-error'), /cannot be reached/);
      await screenshot(page, 'state-api-down-search');
      await page.fill('#nav-trace-id', HEALTH.traceId);
      await page.press('#nav-trace-id', 'Enter');
      await page.waitForSelector('.state-error');
      assert.match(await page.innerText('.state-error'), /The query service cannot be reached/);
      await screenshot(page, 'state-api-down-trace');
      await page.context().close();
    } finally {
      if (!stopped) await gw.stop();
    }
  });

  test('under a base_path the page, its modules and the API all live below the prefix', async () => {
    const gw = await startGateway(`
receivers:
  otlp: { protocols: { http: { endpoint: "127.0.0.1:{{port:otlp_http}}" } } }
exporters:
  memory: {}
extensions:
  jaeger_query: { storage: memory, base_path: /jaeger, http: { endpoint: "127.0.0.1:{{port:query}}" } }
service:
  extensions: [jaeger_query]
  pipelines: { traces: { receivers: [otlp], exporters: [memory] } }
`);
    try {
      await sendOtlpJson(gw, body(HEALTH));
      await waitForTraces(gw, [HEALTH.traceId], [1], '/jaeger');
      const { page, errors } = await newPage(browser);
      await page.goto(`${gw.url}/jaeger`);
      await page.waitForURL(/\/jaeger\/search$/);
      await page.selectOption('#search-service', 'frontend');
      await page.click('#search-submit');
      await page.waitForSelector('.result-row');
      await page.click('.result-title');
      await page.waitForURL(`**/jaeger/trace/${HEALTH.traceId}`);
      await page.waitForSelector('.tl-row');
      assert.equal(await page.getAttribute('nav.top a[data-nav="/dependencies"]', 'href'), '/jaeger/dependencies');
      assert.deepEqual(errors, []);
      await page.context().close();
    } finally {
      await gw.stop();
    }
  });
});
