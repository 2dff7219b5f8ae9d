// @ts-check
// The search page against the real binary: pickers from the API, results in the list and the
// plot, sorting, tag search, find by id, compare selection, shareable URLs and back/forward.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { ALL, CHECKOUT, HEALTH, SLOW, body } from './fixtures.mjs';
import { launchBrowser, newPage, screenshot, sendOtlpJson, startGateway, waitForTraces } from './harness.mjs';

/** @type {import('./harness.mjs').Gateway} */
let gw;
/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
  gw = await startGateway();
  for (const t of ALL) await sendOtlpJson(gw, body(t));
  await waitForTraces(gw, ALL.map((t) => t.traceId), ALL.map((t) => t.spans.length));
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await gw?.stop();
});

/** @param {import('playwright-core').Page} page */
const rowIds = (page) => page.$$eval('.result-row', (rows) => rows.map((r) => /** @type {HTMLElement} */ (r).dataset.traceId));

describe('search', () => {
  test('service picker lists the stored services; a search shows every trace in the list and the plot', async () => {
    const { page, errors } = await newPage(browser);
    await page.goto(`${gw.url}/`);
    await page.waitForURL(/\/search$/);
    await page.waitForSelector('#search-service option[value="frontend"]', { state: 'attached' });
    const services = await page.$$eval('#search-service option', (o) => o.map((x) => /** @type {HTMLOptionElement} */ (x).value).filter(Boolean));
    assert.deepEqual(services, ['cart', 'frontend', 'payment']);
    await page.selectOption('#search-service', 'frontend');
    await page.waitForFunction(() => document.querySelectorAll('#search-operation option').length > 1);
    const ops = await page.$$eval('#search-operation option', (o) => o.map((x) => x.textContent));
    assert.deepEqual(ops, ['All operations', 'GET /checkout', 'GET /health', 'call-cart', 'call-payment']);
    await page.click('#search-submit');
    await page.waitForSelector('.result-row');
    assert.match(page.url(), /\/search\?service=frontend&lookback=1h&limit=20$/);
    assert.equal(await page.textContent('.results-count'), '3 Traces');
    // Most recent first by default.
    assert.deepEqual(await rowIds(page), [SLOW.traceId, HEALTH.traceId, CHECKOUT.traceId]);
    const dots = await page.$$eval('.scatter-svg circle.dot', (d) => d.map((c) => [c.getAttribute('data-trace-id'), c.classList.contains('error')]));
    assert.deepEqual(dots.sort(), [[CHECKOUT.traceId, true], [HEALTH.traceId, false], [SLOW.traceId, false]].sort());
    // The checkout row: root, span and error counts, per-service counts, duration.
    const row = page.locator(`.result-row[data-trace-id="${CHECKOUT.traceId}"]`);
    assert.equal(await row.locator('.result-title').innerText(), `frontend: GET /checkout ${CHECKOUT.traceId.slice(0, 7)}`);
    assert.equal(await row.locator('.span-count').innerText(), '7 Spans');
    assert.equal(await row.locator('.error-count').innerText(), '1 Error');
    assert.deepEqual(await row.locator('.svc-chips .tag-chip').allInnerTexts(), ['frontend (3)', 'cart (2)', 'payment (2)']);
    assert.equal(await row.locator('.result-duration').innerText(), '120ms');
    await screenshot(page, 'search-results');
    assert.deepEqual(errors, []);
    await page.context().close();
  });

  test('sorting reorders the list', async () => {
    const { page } = await newPage(browser);
    await page.goto(`${gw.url}/search?service=frontend`);
    await page.waitForSelector('.result-row');
    const expected = {
      longest: [SLOW, CHECKOUT, HEALTH], shortest: [HEALTH, CHECKOUT, SLOW], most: [CHECKOUT, SLOW, HEALTH], fewest: [HEALTH, SLOW, CHECKOUT], recent: [SLOW, HEALTH, CHECKOUT],
    };
    for (const [sort, order] of Object.entries(expected)) {
      await page.selectOption('#results-sort', sort);
      assert.deepEqual(await rowIds(page), order.map((t) => t.traceId), sort);
    }
    // The plot follows the page's width.
    const wide = Number(await page.getAttribute('.scatter-svg', 'width'));
    await page.setViewportSize({ width: 1024, height: 800 });
    await page.waitForFunction((w) => Number(document.querySelector('.scatter-svg')?.getAttribute('width')) < w - 100, wide);
    await page.context().close();
  });

  test('logfmt tags and an operation narrow the search; the URL carries them as Jaeger does', async () => {
    const { page } = await newPage(browser);
    await page.goto(`${gw.url}/search`);
    await page.selectOption('#search-service', 'payment');
    await page.fill('#search-tags', 'http.status_code=500 customer.tier=gold');
    await page.click('#search-submit');
    await page.waitForSelector('.result-row');
    assert.deepEqual(await rowIds(page), [CHECKOUT.traceId]);
    const url = new URL(page.url());
    assert.deepEqual(JSON.parse(url.searchParams.get('tags') || ''), { 'http.status_code': '500', 'customer.tier': 'gold' });
    // A shared URL reproduces the search and refills the form.
    const { page: other } = await newPage(browser);
    await other.goto(page.url());
    await other.waitForSelector('.result-row');
    assert.equal(await other.inputValue('#search-tags'), 'http.status_code=500 customer.tier=gold');
    assert.equal(await other.inputValue('#search-service'), 'payment');
    await other.context().close();
    // An operation.
    await page.goto(`${gw.url}/search?service=frontend&operation=GET%20%2Fhealth`);
    await page.waitForSelector('.result-row');
    assert.deepEqual(await rowIds(page), [HEALTH.traceId]);
    assert.equal(await page.inputValue('#search-operation'), 'GET /health');
    // Nothing matching: the empty state.
    await page.fill('#search-tags', 'customer.tier=platinum');
    await page.click('#search-submit');
    await page.waitForSelector('.search-results .state-empty');
    assert.match(await page.innerText('.search-results .state-empty'), /No traces found/);
    // A malformed tag is refused in the form, naming the term.
    await page.fill('#search-tags', 'oops');
    await page.click('#search-submit');
    assert.match(await page.innerText('.field-error'), /"oops" is not key=value/);
    await page.context().close();
  });

  test('duration bounds and a custom time range narrow the search', async () => {
    const { page } = await newPage(browser);
    await page.goto(`${gw.url}/search?service=frontend`);
    await page.waitForSelector('.result-row');
    await page.fill('#search-min', '100ms');
    await page.click('#search-submit');
    await page.waitForURL(/minDuration=100ms/);
    await page.waitForSelector('.result-row');
    assert.deepEqual((await rowIds(page)).sort(), [CHECKOUT.traceId, SLOW.traceId].sort());
    await page.fill('#search-max', '200ms');
    await page.click('#search-submit');
    await page.waitForURL(/maxDuration=200ms/);
    await page.waitForFunction(() => document.querySelectorAll('.result-row').length === 1);
    assert.deepEqual(await rowIds(page), [CHECKOUT.traceId]);
    // A custom range (to the second) around the health check only; the others are 30 s and
    // 60 s away.
    await page.fill('#search-min', '');
    await page.fill('#search-max', '');
    await page.selectOption('#search-lookback', 'custom');
    // A datetime-local input normalizes ":00" seconds away, and Playwright's fill refuses a
    // value that reads back differently, so whole minutes are written without seconds.
    const local = (/** @type {number} */ ms) => {
      const text = new Date(ms - new Date().getTimezoneOffset() * 60e3).toISOString().slice(0, 19);
      return text.endsWith(':00') ? text.slice(0, 16) : text;
    };
    await page.fill('#search-start', local(HEALTH.baseMs - 5_000));
    await page.fill('#search-end', local(HEALTH.baseMs + 5_000));
    await page.click('#search-submit');
    await page.waitForURL(/lookback=custom&start=\d+&end=\d+/);
    await page.waitForFunction(() => document.querySelectorAll('.result-row').length > 0 && !document.querySelector('.state-loading'));
    assert.deepEqual(await rowIds(page), [HEALTH.traceId]);
    // An end before the start is refused in the form.
    await page.fill('#search-end', local(HEALTH.baseMs - 10_000));
    await page.click('#search-submit');
    assert.match(await page.innerText('.field-error'), /start before its end/);
    await page.context().close();
  });

  test('a dot opens its trace; back returns to the same results', async () => {
    const { page } = await newPage(browser);
    await page.goto(`${gw.url}/search?service=frontend`);
    await page.waitForSelector('.scatter-svg circle.dot');
    await page.click(`.scatter-svg circle[data-trace-id="${HEALTH.traceId}"]`);
    await page.waitForURL(`**/trace/${HEALTH.traceId}`);
    await page.waitForSelector('.tl-row');
    await page.goBack();
    await page.waitForSelector('.result-row');
    assert.equal(new URL(page.url()).pathname, '/search');
    assert.equal((await rowIds(page)).length, 3);
    await page.goForward();
    await page.waitForSelector('.tl-row');
    assert.match(page.url(), new RegExp(`/trace/${HEALTH.traceId}$`));
    await page.context().close();
  });

  test('find by trace id; two picked results open the compare URL', async () => {
    const { page } = await newPage(browser);
    await page.goto(`${gw.url}/search`);
    await page.fill('#nav-trace-id', SLOW.traceId);
    await page.press('#nav-trace-id', 'Enter');
    await page.waitForURL(`**/trace/${SLOW.traceId}`);
    await page.waitForSelector('.tl-row');
    // The bar's lookup works from any page; several ids list those traces.
    await page.fill('#nav-trace-id', `${HEALTH.traceId}, ${SLOW.traceId}`);
    await page.press('#nav-trace-id', 'Enter');
    await page.waitForURL(`**/search?traceID=${HEALTH.traceId}&traceID=${SLOW.traceId}`);
    await page.waitForSelector('.result-row');
    assert.deepEqual(await rowIds(page), [SLOW.traceId, HEALTH.traceId]);
    await page.fill('#nav-trace-id', HEALTH.traceId);
    await page.press('#nav-trace-id', 'Enter');
    await page.waitForURL(`**/trace/${HEALTH.traceId}`);
    await page.waitForSelector(`.trace-page[data-trace-id="${HEALTH.traceId}"] .tl-row`);
    assert.equal(await page.title(), 'frontend: GET /health · tracegate');
    await page.goto(`${gw.url}/search?service=frontend`);
    await page.waitForSelector('.result-row');
    assert.equal(await page.isDisabled('#compare-btn'), true);
    await page.check(`.result-row[data-trace-id="${CHECKOUT.traceId}"] input.pick`);
    await page.check(`.result-row[data-trace-id="${SLOW.traceId}"] input.pick`);
    assert.equal(await page.isDisabled(`.result-row[data-trace-id="${HEALTH.traceId}"] input.pick`), true, 'a third pick is refused');
    await page.click('#compare-btn');
    await page.waitForURL(`**/trace/${CHECKOUT.traceId}...${SLOW.traceId}`);
    await page.context().close();
  });
});
