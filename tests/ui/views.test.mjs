// @ts-check
/**
 * The alternative trace views (statistics, graph, flamegraph, raw JSON) in headless chromium,
 * against the real binary fed with the fixture traces: each view shows the numbers worked out
 * by hand in part2-fixtures.mjs. The views are rendered the way the trace page's tabs render
 * them (`render(container, normalizeTrace(trace))`), so these tests do not depend on the tabs.
 */

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';

import { launchBrowser, newPage, reportFigure, screenshot, startGateway } from './harness.mjs';
import { A_ID, sendFixtures, showView } from './part2-fixtures.mjs';

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

/**
 * The statistics table's rows as {key: {column: number}}.
 * @param {import('playwright-core').Page} page
 */
async function statsRows(page) {
  return page.$$eval('.tv-stats-table tbody tr', (trs) => Object.fromEntries(trs.map((tr) => [
    /** @type {HTMLElement} */ (tr).dataset.key,
    Object.fromEntries([...tr.querySelectorAll('td[data-col]')].map((td) => [/** @type {HTMLElement} */ (td).dataset.col, Number(/** @type {HTMLElement} */ (td).dataset.value)])),
  ])));
}

describe('trace views', () => {
  it('statistics: count, total, avg, min, max and self time by service and by operation', async () => {
    const { page, errors } = await newPage(browser);
    await showView(page, gw.url, 'stats', A_ID);
    await page.waitForSelector('.tv-stats-table');
    const ms = 1000;
    let rows = await statsRows(page);
    assert.deepEqual(Object.keys(rows).sort(), ['cart', 'email', 'frontend', 'payment']);
    assert.deepEqual(
      { count: rows.cart.count, total: rows.cart.total, avg: rows.cart.avg, min: rows.cart.min, max: rows.cart.max, self: rows.cart.selfTotal },
      { count: 2, total: 40 * ms, avg: 20 * ms, min: 10 * ms, max: 30 * ms, self: 40 * ms });
    // The root's children cover [10,70] ∪ [80,90] ∪ [92,97]: 75 of its 100 ms.
    assert.equal(rows.frontend.selfTotal, 25 * ms);
    assert.equal(rows.payment.count, 3);
    assert.equal(rows.payment.selfTotal, 50 * ms);
    assert.equal(rows.payment.max, 50 * ms);
    assert.equal(rows.payment.errors, 1);
    // The cell text is what a person reads.
    const cartTotal = await page.textContent('tr[data-key="cart"] td[data-col="total"]');
    assert.equal(cartTotal, '40ms');

    await page.selectOption('.tv-stats-by', 'operation');
    await page.waitForSelector('tr[data-key="payment db.query"]');
    rows = await statsRows(page);
    assert.equal(Object.keys(rows).length, 5);
    assert.deepEqual(rows['payment db.query'].count, 2);
    assert.deepEqual(rows['payment db.query'].avg, 10 * ms);
    assert.deepEqual(rows['payment charge'].selfTotal, 30 * ms);
    assert.deepEqual(rows['cart getCart'].min, 10 * ms);
    // Sorting by a column header: count, descending.
    await page.click('.tv-stats-table th:has-text("Count")');
    const firstKey = await page.$eval('.tv-stats-table tbody tr', (tr) => /** @type {HTMLElement} */ (tr).dataset.key);
    assert.ok(firstKey === 'payment db.query' || firstKey === 'cart getCart', String(firstKey));
    await screenshot(page, 'view-statistics');
    assert.deepEqual(errors, []);
    await page.context().close();
  });

  it('graph: service/operation nodes with span counts and call counts on edges', async () => {
    const { page, errors } = await newPage(browser);
    await showView(page, gw.url, 'graph', A_ID);
    await page.waitForSelector('.tv-graph-svg');
    const nodes = await page.$$eval('.tv-node', (gs) => gs.map((g) => `${g.getAttribute('data-service')}/${g.getAttribute('data-operation')}=${g.getAttribute('data-count')}`).sort());
    assert.deepEqual(nodes, ['cart/getCart=2', 'email/send=1', 'frontend/GET /checkout=1', 'payment/charge=1', 'payment/db.query=2']);
    const edges = await page.$$eval('.tv-edge', (gs) => gs.map((g) => `${g.getAttribute('data-from')} -> ${g.getAttribute('data-to')}: ${g.querySelector('text')?.textContent}`).sort());
    assert.deepEqual(edges, [
      'frontend GET /checkout -> cart getCart: 2×',
      'frontend GET /checkout -> email send: 1×',
      'frontend GET /checkout -> payment charge: 1×',
      'payment charge -> payment db.query: 2×',
    ]);
    // Layered left to right: each edge goes from a node to one further right.
    const xs = await page.$$eval('.tv-node', (gs) => Object.fromEntries(gs.map((g) => [g.getAttribute('data-operation'), /** @type {SVGGraphicsElement} */ (g).getBoundingClientRect().x])));
    assert.ok(xs['GET /checkout'] < xs.charge && xs.charge < xs['db.query'], JSON.stringify(xs));
    assert.equal(await page.locator('.tv-node-error').count(), 1, 'the node with the failed db.query is marked');
    await screenshot(page, 'view-graph');
    assert.deepEqual(errors, []);
    await page.context().close();
  });

  it('flamegraph: a bar per span, click zooms to the span and reset zooms out', async () => {
    const { page, errors } = await newPage(browser);
    await showView(page, gw.url, 'flamegraph', A_ID);
    await page.waitForSelector('.tv-flame-canvas');
    const bars = () => page.getAttribute('.tv-flame-canvas', 'data-bars');
    assert.equal(await bars(), '7');
    // Where "payment: charge" is drawn, by the view's own geometry (the canvas has no DOM per bar).
    const at = await page.evaluate(async (id) => {
      const { normalizeTrace } = await import('/static/model.js');
      const { flameBars } = await import('/static/views/flamegraph.js');
      const canvas = /** @type {HTMLCanvasElement} */ (document.querySelector('.tv-flame-canvas'));
      const jt = (await (await fetch(`/api/traces/${id}`)).json()).data[0];
      const t = normalizeTrace(jt);
      const box = canvas.getBoundingClientRect();
      const b = flameBars(t, 0, t.duration, box.width).bars.find((x) => x.span.operationName === 'charge');
      return b && { x: box.x + b.x + b.w / 2, y: box.y + b.y + 9 };
    }, A_ID);
    assert.ok(at, 'charge is drawn');
    await page.mouse.move(at.x, at.y);
    assert.match(await page.textContent('.tv-flame .tv-toolbar') || '', /payment: charge · 50ms at \+20ms/);
    await page.mouse.click(at.x, at.y);
    // Zoomed to charge (20..70 ms): the getCart at 80 ms and the email at 92 ms leave the window.
    await page.waitForFunction(() => document.querySelector('.tv-flame-canvas')?.getAttribute('data-bars') === '5');
    assert.match(await page.textContent('.tv-crumbs') || '', /payment: charge/);
    assert.deepEqual([await page.getAttribute('.tv-flame-canvas', 'data-from'), await page.getAttribute('.tv-flame-canvas', 'data-to')], ['20000', '70000']);
    await screenshot(page, 'view-flamegraph-zoomed');
    await page.click('text=Reset zoom');
    await page.waitForFunction(() => document.querySelector('.tv-flame-canvas')?.getAttribute('data-bars') === '7');
    await screenshot(page, 'view-flamegraph');
    assert.deepEqual(errors, []);
    await page.context().close();
  });

  it('raw JSON: shows the trace and downloads it as an /api/traces answer', async () => {
    const { page, errors } = await newPage(browser);
    await showView(page, gw.url, 'json', A_ID);
    await page.waitForSelector('.tv-json');
    const shown = JSON.parse(await page.textContent('.tv-json') || 'null');
    const api = await (await fetch(`${gw.url}/api/traces/${A_ID}`)).json();
    assert.equal(shown.traceID, A_ID);
    assert.equal(shown.spans.length, 7);
    // Same spans, processes and tags as the API answered.
    const key = (/** @type {any} */ s) => s.spanID;
    assert.deepEqual(shown.spans.map(key).sort(), api.data[0].spans.map(key).sort());
    assert.deepEqual(Object.keys(shown.processes).sort(), Object.keys(api.data[0].processes).sort());
    const apiRoot = api.data[0].spans.find((/** @type {any} */ s) => !s.references.length);
    const shownRoot = shown.spans.find((/** @type {any} */ s) => s.spanID === apiRoot.spanID);
    assert.deepEqual(shownRoot.tags, apiRoot.tags);
    assert.equal(shownRoot.processID, apiRoot.processID);

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('.tv-json-download')]);
    assert.equal(download.suggestedFilename(), `trace-${A_ID}.json`);
    const file = JSON.parse(fs.readFileSync(/** @type {string} */ (await download.path()), 'utf8'));
    assert.equal(file.data[0].traceID, A_ID);
    assert.equal(file.data[0].spans.length, 7);
    await screenshot(page, 'view-json');
    assert.deepEqual(errors, []);
    await page.context().close();
  });

  it('each view opens from the trace page\'s tabs and its URL, in the dark theme too', async () => {
    const { page, errors } = await newPage(browser, { colorScheme: 'dark' });
    for (const [view, selector] of [['graph', '.tv-node'], ['stats', '.tv-stats-table'], ['flamegraph', '.tv-flame-canvas'], ['json', '.tv-json']]) {
      await page.goto(`${gw.url}/trace/${A_ID}?view=${view}`);
      await page.waitForSelector(selector);
      await screenshot(page, `view-${view}-dark`);
    }
    // A tab switches the view in place.
    await page.click('.tabs button[data-view="stats"]');
    await page.waitForSelector('.tv-stats-table');
    assert.equal(new URL(page.url()).searchParams.get('view'), 'stats');
    assert.deepEqual(errors, []);
    await page.context().close();
  });

  it('a 10,000-span trace renders in each view (figures reported, not asserted)', async () => {
    const { page, errors } = await newPage(browser);
    await page.goto(`${gw.url}/upload`);
    await page.waitForSelector('nav.top a');
    for (const view of ['stats', 'graph', 'flamegraph', 'json']) {
      const ms = await page.evaluate(async (v) => {
        const { normalizeTrace } = await import('/static/model.js');
        const { render } = await import(`/static/views/${v}.js`);
        const services = ['api', 'auth', 'db', 'cache', 'queue'];
        // A 4-ary tree: each span's children split its time into four sequential calls.
        const spans = [];
        for (let i = 0; i < 10_000; i++) {
          const parent = i ? spans[Math.floor((i - 1) / 4)] : null;
          const k = i ? (i - 1) % 4 : 0;
          const start = parent ? parent.startTime + Math.floor((k * parent.duration) / 4) : 1e15;
          const duration = parent ? Math.max(1, Math.floor((parent.duration / 4) * 0.9)) : 1_000_000_000;
          spans.push({
            traceID: 'big', spanID: `s${i}`, operationName: `op${i % 40}`, processID: `p${i % 5}`,
            references: parent ? [{ refType: 'CHILD_OF', traceID: 'big', spanID: parent.spanID }] : [],
            startTime: start, duration, tags: [], logs: [],
          });
        }
        const processes = Object.fromEntries(services.map((s, i) => [`p${i}`, { serviceName: s, tags: [] }]));
        const host = document.createElement('div');
        /** @type {HTMLElement} */ (document.getElementById('page')).replaceChildren(host);
        const t0 = performance.now();
        render(host, normalizeTrace({ traceID: 'big', spans, processes }));
        await new Promise((r) => requestAnimationFrame(() => r(null)));
        return performance.now() - t0;
      }, view);
      reportFigure(`view ${view}: 10,000 spans, normalize + render + first frame`, ms);
    }
    assert.deepEqual(errors, []);
    await page.context().close();
  });
});
