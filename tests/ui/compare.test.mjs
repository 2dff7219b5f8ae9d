// @ts-check
/**
 * The compare page (`/trace/{a}...{b}`) in headless chromium: spans matched by service and
 * operation, what is only in one trace, count and duration differences (fixtures in
 * part2-fixtures.mjs), and its empty and error states.
 */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { launchBrowser, newPage, screenshot, startGateway } from './harness.mjs';
import { A_ID, B_ID, sendFixtures } from './part2-fixtures.mjs';

/** @type {import('./harness.mjs').Gateway} */
let gw;
/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
  gw = await startGateway();
  browser = await launchBrowser();
  await sendFixtures(gw);
});

after(async () => {
  await browser?.close();
  await gw?.stop();
});

/** @param {import('playwright-core').Page} page */
async function rows(page) {
  return page.$$eval('.cmp-rows tbody tr', (trs) => trs.map((tr) => {
    const d = /** @type {HTMLElement} */ (tr).dataset;
    const v = (/** @type {string} */ col) => Number(/** @type {HTMLElement | null} */ (tr.querySelector(`td[data-col="${col}"]`))?.dataset.value);
    return { key: `${d.service} ${d.operation}`, status: d.status, countA: v('countA'), countB: v('countB'), durA: v('durA'), durB: v('durB'), slower: !!tr.querySelector('.cmp-slower') };
  }));
}

describe('compare', () => {
  it('matches spans by service and operation and shows what differs', async () => {
    const { page, errors } = await newPage(browser);
    await page.goto(`${gw.url}/trace/${A_ID}...${B_ID}`);
    await page.waitForSelector('.cmp-rows');
    const summary = await page.$eval('.cmp-summary', (e) => ({ ...(/** @type {HTMLElement} */ (e).dataset) }));
    assert.deepEqual(summary, { onlyA: '1', onlyB: '1', changed: '2' });

    await page.selectOption('.cmp-legend select', 'flat');
    const flat = Object.fromEntries((await rows(page)).map((r) => [r.key, r]));
    assert.equal(flat['email send'].status, 'only-a');
    assert.equal(flat['fraud check'].status, 'only-b');
    assert.deepEqual([flat['cart getCart'].status, flat['cart getCart'].countA, flat['cart getCart'].countB], ['fewer', 2, 1]);
    assert.deepEqual([flat['payment db.query'].status, flat['payment db.query'].countA, flat['payment db.query'].countB], ['more', 2, 3]);
    // Same number of charge calls, but 50 ms -> 80 ms: marked slower.
    assert.deepEqual([flat['payment charge'].status, flat['payment charge'].durA, flat['payment charge'].durB, flat['payment charge'].slower], ['same', 50_000, 80_000, true]);
    assert.equal(flat['frontend GET /checkout'].durB - flat['frontend GET /checkout'].durA, 20_000);
    // Rows are colour-coded by status.
    const bg = await page.$eval('tr[data-status="only-a"]', (tr) => getComputedStyle(tr).backgroundColor);
    assert.notEqual(bg, 'rgba(0, 0, 0, 0)');

    await page.selectOption('.cmp-legend select', 'tree');
    const tree = await rows(page);
    assert.equal(tree[0].key, 'frontend GET /checkout');
    assert.ok(tree.some((r) => r.key === 'fraud check' && r.status === 'only-b'));
    await page.check('.cmp-legend input[type=checkbox]');
    const changed = await rows(page);
    // Left: what differs in calls, and what only got slower (charge +60%, the root +20%).
    assert.deepEqual(changed.map((r) => r.key).sort(), ['cart getCart', 'email send', 'fraud check', 'frontend GET /checkout', 'payment charge', 'payment db.query']);
    assert.ok(changed.every((r) => r.status !== 'same' || r.slower), JSON.stringify(changed));
    await screenshot(page, 'page-compare');
    assert.deepEqual(errors, []);
    await page.context().close();
  });

  it('/compare asks for two ids and navigates; a missing trace is an error state', async () => {
    const { page } = await newPage(browser);
    await page.goto(`${gw.url}/compare`);
    await page.waitForSelector('.cmp-form .state-empty, .state-empty');
    await page.fill('input[name=a]', A_ID);
    await page.fill('input[name=b]', 'deadbeef');
    await page.click('.cmp-form button[type=submit]');
    await page.waitForSelector('.state-error');
    assert.match(new URL(page.url()).pathname, new RegExp(`/trace/${A_ID}\\.\\.\\.deadbeef$`));
    assert.match(await page.textContent('.state-error') || '', /B \(deadbeef\).*not found/s);
    await screenshot(page, 'page-compare-missing');
    await page.context().close();
  });
});
