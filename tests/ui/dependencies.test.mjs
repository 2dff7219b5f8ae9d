// @ts-check
/**
 * The dependencies page in headless chromium: edges and call counts from the fixture traces,
 * a cycle (frontend -> payment -> fraud -> frontend), 50+ services laid out without overlapping
 * nodes, clicking a service opens its search, and the empty state for a window without data.
 */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { launchBrowser, newPage, reportFigure, screenshot, startGateway } from './harness.mjs';
import { sendFixtures } from './part2-fixtures.mjs';

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

describe('dependencies', () => {
  it('draws every edge with its call count, cycles included, and no node overlaps another', async () => {
    const { page, errors } = await newPage(browser);
    const t0 = Date.now();
    await page.goto(`${gw.url}/dependencies`);
    await page.waitForSelector('.deps-svg');
    reportFigure('dependencies page: 55 services, load to graph', Date.now() - t0);
    const edges = Object.fromEntries(await page.$$eval('.deps-edge', (gs) => gs.map((g) => [`${g.getAttribute('data-parent')}->${g.getAttribute('data-child')}`, g.querySelector('text')?.textContent])));
    // checkout A: frontend->cart ×2, ->payment, ->email; B: frontend->cart, ->payment, payment->fraud; the callback: fraud->frontend.
    assert.equal(edges['frontend->cart'], '3');
    assert.equal(edges['frontend->payment'], '2');
    assert.equal(edges['frontend->email'], '1');
    assert.equal(edges['payment->fraud'], '1');
    assert.equal(edges['fraud->frontend'], '1');
    assert.equal(edges['svc-49->svc-10'], '1');
    assert.equal(edges['payment->payment'], undefined, 'calls inside one service are no dependency');
    assert.equal(Object.keys(edges).length, 6 + 49);

    const boxes = await page.$$eval('.deps-node', (gs) => gs.map((g) => {
      const r = g.getBoundingClientRect();
      return { id: g.getAttribute('data-service'), x: r.x, y: r.y, w: r.width, h: r.height };
    }));
    assert.equal(boxes.length, 5 + 50);
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i];
        const b = boxes[j];
        const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
        assert.ok(!overlap, `${a.id} overlaps ${b.id}: ${JSON.stringify([a, b])}`);
      }
    }
    // Layered: a caller is left of its callees except on the edge that closes a cycle.
    const x = Object.fromEntries(boxes.map((b) => [b.id, b.x]));
    assert.ok(x['svc-00'] < x['svc-01'] && x['svc-01'] < x['svc-03'] && x['frontend'] < x['cart']);
    // The edge table lists the same counts.
    const row = await page.$eval('.deps-edges tr[data-parent="frontend"][data-child="cart"] td.num', (td) => td.textContent);
    assert.equal(row, '3');
    await screenshot(page, 'page-dependencies');
    await page.click('text=Fit to width');
    await screenshot(page, 'page-dependencies-fit');
    assert.deepEqual(errors, []);
    await page.context().close();
  });

  it('clicking a service opens a search for it', async () => {
    const { page } = await newPage(browser);
    await page.goto(`${gw.url}/dependencies`);
    await page.click('.deps-node[data-service="payment"]');
    await page.waitForURL((u) => u.pathname.endsWith('/search') && u.searchParams.get('service') === 'payment');
    await page.context().close();
  });

  it('focus keeps one service with its callers and callees, in the URL', async () => {
    const { page, errors } = await newPage(browser);
    await page.goto(`${gw.url}/dependencies`);
    await page.selectOption('select[name=focus]', 'payment');
    await page.waitForURL((u) => u.searchParams.get('focus') === 'payment');
    await page.waitForSelector('.deps-svg');
    const edges = await page.$$eval('.deps-edge', (gs) => gs.map((g) => `${g.getAttribute('data-parent')}->${g.getAttribute('data-child')}=${g.getAttribute('data-calls')}`).sort());
    assert.deepEqual(edges, ['frontend->payment=2', 'payment->fraud=1']);
    assert.equal(await page.$eval('select[name=focus]', (s) => /** @type {HTMLSelectElement} */ (s).value), 'payment');
    await screenshot(page, 'page-dependencies-focus');
    assert.deepEqual(errors, []);
    await page.context().close();
  });

  it('a window without calls is an empty state; the window is in the URL', async () => {
    const { page } = await newPage(browser);
    const longAgo = Date.now() - 30 * 24 * 3600e3;
    await page.goto(`${gw.url}/dependencies?lookback=1h&end=${longAgo}`);
    await page.waitForSelector('.state-empty');
    assert.match(await page.textContent('.state-empty') || '', /No dependencies in this window/);
    assert.equal(await page.$eval('select[name=lookback]', (s) => /** @type {HTMLSelectElement} */ (s).value), '1h');
    await page.selectOption('select[name=lookback]', '6h');
    await page.waitForURL((u) => u.searchParams.get('lookback') === '6h');
    await screenshot(page, 'page-dependencies-empty');
    await page.context().close();
  });

  it('the API being down is an error state', async () => {
    const { page } = await newPage(browser);
    await page.route('**/api/dependencies*', (route) => route.fulfill({ status: 500, contentType: 'text/plain', body: '{"data":null,"errors":[{"code":500,"msg":"storage error: disk on fire"}]}' }));
    await page.goto(`${gw.url}/dependencies`);
    await page.waitForSelector('.state-error');
    assert.match(await page.textContent('.state-error') || '', /disk on fire/);
    await page.context().close();
  });
});
