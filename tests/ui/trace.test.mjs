// @ts-check
// The trace view against the real binary: header numbers, every span in the tree, expand and
// collapse, span detail (tags, process, logs, references), find, keyboard, critical path,
// minimap zoom, themes.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { CHECKOUT, ORPHAN, body } from './fixtures.mjs';
import { launchBrowser, newPage, screenshot, sendOtlpJson, startGateway, waitForTraces } from './harness.mjs';

/** @type {import('./harness.mjs').Gateway} */
let gw;
/** @type {import('playwright-core').Browser} */
let browser;
const id = CHECKOUT.traceId;
const spanId = (/** @type {string} */ short) => short.padStart(16, '0');

before(async () => {
  gw = await startGateway();
  await sendOtlpJson(gw, body(CHECKOUT));
  await sendOtlpJson(gw, body(ORPHAN));
  await waitForTraces(gw, [id, ORPHAN.traceId], [CHECKOUT.spans.length, ORPHAN.spans.length]);
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await gw?.stop();
});

/** @param {import('playwright-core').Page} page */
async function open(page, query = '') {
  await page.goto(`${gw.url}/trace/${id}${query}`);
  await page.waitForSelector('.tl-row');
}
/** @param {import('playwright-core').Page} page */
const rowNames = (page) => page.$$eval('.tl-row', (rows) => rows
  .sort((a, b) => parseFloat(/** @type {HTMLElement} */ (a).style.top) - parseFloat(/** @type {HTMLElement} */ (b).style.top))
  .map((r) => `${r.querySelector('.tl-svc')?.textContent}: ${r.querySelector('.tl-op')?.textContent}`));
/** @param {import('playwright-core').Page} page */
const selectedId = (page) => page.$eval('.tl-row.selected', (r) => /** @type {HTMLElement} */ (r).dataset.spanId).catch(() => null);

describe('trace view', () => {
  test('the header has the trace numbers and the tree shows every span in order', async () => {
    const { page, errors } = await newPage(browser);
    await open(page);
    const stat = (/** @type {string} */ k) => page.innerText(`.trace-stats [data-stat=${k}] strong`);
    assert.equal(await page.innerText('.trace-title'), `frontend: GET /checkout ${id}`);
    assert.equal(await stat('duration'), '120ms');
    assert.equal(await stat('services'), '3');
    assert.equal(await stat('depth'), '4');
    assert.equal(await stat('spans'), '7');
    assert.equal(await stat('errors'), '1');
    assert.deepEqual(await rowNames(page), [
      'frontend: GET /checkout', 'frontend: call-cart', 'cart: GET /cart', 'cart: redis GET',
      'frontend: call-payment', 'payment: charge', 'payment: db.query',
    ]);
    assert.equal(await page.locator('.tl-row.error').count(), 1);
    // The error count finds and selects the failing span.
    await page.click('.trace-stats [data-stat=errors] a');
    assert.equal(await selectedId(page), spanId('6'));
    assert.equal(await page.inputValue('#trace-find'), 'error=true');
    await screenshot(page, 'trace-timeline');
    assert.deepEqual(errors, []);
    await page.context().close();
  });

  test('subtrees collapse and expand, one at a time and all at once', async () => {
    const { page } = await newPage(browser);
    await open(page);
    await page.click(`.tl-row[data-span-id="${spanId('5')}"] .tl-toggle`);
    assert.equal(await page.locator('.tl-row').count(), 5);
    assert.equal(await page.innerText(`.tl-row[data-span-id="${spanId('5')}"] .tl-hidden`), '+2');
    await page.click(`.tl-row[data-span-id="${spanId('5')}"] .tl-toggle`);
    assert.equal(await page.locator('.tl-row').count(), 7);
    await page.click('#collapse-all');
    assert.deepEqual(await rowNames(page), ['frontend: GET /checkout']);
    await page.click('#expand-all');
    assert.equal(await page.locator('.tl-row').count(), 7);
    await page.context().close();
  });

  test('span detail shows tags, process, logs relative to the trace and clickable references', async () => {
    const { page } = await newPage(browser);
    await open(page);
    await page.click(`.tl-row[data-span-id="${spanId('6')}"]`);
    await page.waitForSelector('.span-detail:not([hidden])');
    const kv = (/** @type {string} */ section) => page.$$eval(`.span-detail .${section} > table tr`, (rows) => Object.fromEntries(rows.map((r) => [r.children[0].textContent, r.children[1].textContent])));
    const tags = await kv('sd-tags');
    assert.equal(tags['http.status_code'], '500');
    assert.equal(tags['customer.tier'], 'gold');
    assert.equal(tags['payment.amount'], '42.5');
    assert.equal(tags['error'], 'true');
    assert.equal(tags['span.kind'], 'server');
    const proc = await kv('sd-process');
    assert.equal(proc['host.name'], 'pay-1');
    assert.equal(proc['service.version'], '2.3.1');
    const log = await page.innerText('.span-detail .sd-logs .sd-log');
    assert.match(log, /^\+60ms \(13ms into the span\)/);
    assert.match(log, /event\s+retry/);
    assert.match(log, /attempt\s+2/);
    assert.match(log, /reason\s+card declined/);
    assert.match(await page.innerText('.span-detail .sd-head'), /Service: payment\s+Duration: 65ms\s+Start: 47ms/);
    await screenshot(page, 'trace-span-detail');
    // The selection is in the URL: a reload (or a shared link) opens on the same span.
    assert.equal(new URL(page.url()).searchParams.get('span'), spanId('6'));
    await page.reload();
    await page.waitForSelector('.span-detail:not([hidden])');
    assert.equal(await selectedId(page), spanId('6'));
    // The CHILD_OF reference selects the parent span.
    await page.click('.span-detail .sd-ref');
    assert.equal(await selectedId(page), spanId('5'));
    assert.match(await page.innerText('.span-detail .sd-title'), /call-payment/);
    assert.doesNotMatch(await page.innerText('.span-detail'), /\bnull\b|undefined/);
    await page.keyboard.press('Escape');
    assert.equal(await page.isHidden('.span-detail'), true);
    await page.context().close();
  });

  test('a span whose parent is missing shows a warning; a link to another trace opens it at the span', async () => {
    const { page } = await newPage(browser);
    await page.goto(`${gw.url}/trace/${ORPHAN.traceId}`);
    await page.waitForSelector('.tl-row');
    await page.click(`.tl-row[data-span-id="${spanId('31')}"]`);
    assert.match(await page.innerText('.span-detail .sd-warnings'), new RegExp(`parent span ${spanId('99')} is not in this trace`));
    const link = page.locator('.span-detail .sd-ref', { hasText: `trace ${id}` });
    assert.equal(await link.count(), 1);
    await screenshot(page, 'trace-orphan-warning');
    await link.click();
    await page.waitForURL(`**/trace/${id}?span=${spanId('6')}`);
    await page.waitForSelector('.tl-row.selected');
    assert.equal(await selectedId(page), spanId('6'));
    assert.match(await page.innerText('.span-detail .sd-title'), /charge/);
    await page.context().close();
  });

  test('find highlights matching spans and jumps between them', async () => {
    const { page } = await newPage(browser);
    await open(page);
    await page.fill('#trace-find', 'payment');
    assert.deepEqual(await page.$$eval('.tl-row.match', (r) => r.map((x) => /** @type {HTMLElement} */ (x).dataset.spanId)).then((x) => x.sort()),
      [spanId('5'), spanId('6'), spanId('7')].sort(), 'call-payment by name, charge and db.query by service');
    assert.equal(await page.innerText('#trace-find-count'), '3 matches');
    await page.fill('#trace-find', 'db.system=redis');
    assert.equal(await page.locator('.tl-row.match').count(), 1);
    await page.press('#trace-find', 'Enter');
    assert.equal(await selectedId(page), spanId('4'));
    assert.equal(await page.innerText('#trace-find-count'), '1 of 1');
    assert.equal(new URL(page.url()).searchParams.get('uiFind'), 'db.system=redis');
    await screenshot(page, 'trace-find');
    // The legend counts spans per service; a click finds that service's spans.
    assert.deepEqual(await page.locator('.legend-item').allInnerTexts(), ['cart (2)', 'frontend (3)', 'payment (2)']);
    await page.click('.legend-item[data-service="cart"]');
    assert.equal(await page.inputValue('#trace-find'), 'cart');
    assert.deepEqual(await page.$$eval('.tl-row.match', (r) => r.map((x) => /** @type {HTMLElement} */ (x).dataset.spanId).sort()), [spanId('2'), spanId('3'), spanId('4')],
      'cart\'s two spans, and call-cart by its name');
    // uiFind in the URL (as Jaeger's) pre-fills find.
    await open(page, '?uiFind=SELECT');
    assert.deepEqual(await page.$$eval('.tl-row.match', (r) => r.map((x) => /** @type {HTMLElement} */ (x).dataset.spanId)), [spanId('7')]);
    await page.context().close();
  });

  test('keyboard: arrows move, left collapses and goes up, right expands and goes down', async () => {
    const { page } = await newPage(browser);
    await open(page);
    await page.focus('.tl-body');
    await page.keyboard.press('ArrowDown');
    assert.equal(await selectedId(page), spanId('1'));
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    assert.equal(await selectedId(page), spanId('3'));
    await page.keyboard.press('ArrowLeft'); // collapses cart's subtree
    assert.equal(await page.locator('.tl-row').count(), 6);
    await page.keyboard.press('ArrowLeft'); // to the parent
    assert.equal(await selectedId(page), spanId('2'));
    await page.keyboard.press('ArrowRight'); // into the first child
    assert.equal(await selectedId(page), spanId('3'));
    await page.keyboard.press('ArrowRight'); // expands again
    assert.equal(await page.locator('.tl-row').count(), 7);
    await page.keyboard.press('j');
    assert.equal(await selectedId(page), spanId('4'));
    await page.keyboard.press('End');
    assert.equal(await selectedId(page), spanId('7'));
    await page.keyboard.press('Home');
    assert.equal(await selectedId(page), spanId('1'));
    await page.keyboard.press('/');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'trace-find');
    await page.context().close();
  });

  test('the critical path runs through the spans that decided the end', async () => {
    const { page } = await newPage(browser);
    await open(page);
    const critical = await page.$$eval('.tl-row.critical', (r) => r.map((x) => /** @type {HTMLElement} */ (x).dataset.spanId).sort());
    // The payment branch finished last; cart's work ran before it, so it was waited on too.
    assert.deepEqual(critical, ['1', '2', '3', '4', '5', '6', '7'].map(spanId).sort());
    await page.uncheck('#critical-toggle');
    assert.equal(await page.locator('.tl-row.critical').count(), 0);
    await page.context().close();
  });

  test('dragging on the minimap zooms the time axis; reset restores it', async () => {
    const { page } = await newPage(browser);
    await open(page);
    const box = await page.locator('.minimap').boundingBox();
    assert.ok(box);
    await page.mouse.move(box.x + box.width * 0.5, box.y + 20);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.75, box.y + 20);
    await page.mouse.up();
    const [from, to] = (await page.getAttribute('.timeline', 'data-range') || '').split('-').map(Number);
    assert.ok(Math.abs(from - 0.5) < 0.01 && Math.abs(to - 0.75) < 0.01, `range ${from}-${to}`);
    assert.match(await page.innerText('.tl-tick >> nth=0'), /^(59\.\d|60(\.\d)?)ms$/, 'the axis starts half-way through the 120ms trace');
    await screenshot(page, 'trace-zoomed');
    await page.click('.minimap-reset');
    // The names column is resized on the header's grip.
    const grip = await page.locator('.tl-grip').boundingBox();
    assert.ok(grip);
    await page.mouse.move(grip.x + 4, grip.y + 5);
    await page.mouse.down();
    await page.mouse.move(grip.x + 104, grip.y + 5, { steps: 4 });
    await page.mouse.up();
    const nameWidth = await page.$eval('.tl-row .tl-name', (n) => n.getBoundingClientRect().width);
    assert.ok(Math.abs(nameWidth - 460) <= 2, `names column ${nameWidth}px after dragging 100px`);
    assert.equal(await page.getAttribute('.timeline', 'data-range'), '0.0000-1.0000');
    await page.context().close();
  });

  test('dark theme: toggled, remembered across reloads, and applied', async () => {
    const { page } = await newPage(browser);
    await open(page);
    assert.equal(await page.getAttribute('html', 'data-theme'), 'light');
    const bgLight = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await page.click('#theme-toggle');
    assert.equal(await page.getAttribute('html', 'data-theme'), 'dark');
    await page.reload();
    await page.waitForSelector('.tl-row');
    assert.equal(await page.getAttribute('html', 'data-theme'), 'dark');
    const bgDark = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.notEqual(bgDark, bgLight);
    await page.click(`.tl-row[data-span-id="${spanId('6')}"]`);
    await screenshot(page, 'trace-dark');
    await page.goto(`${gw.url}/search?service=frontend`);
    await page.waitForSelector('.result-row');
    await screenshot(page, 'search-dark');
    await page.context().close();
  });
});
