// @ts-check
// Performance figures measured in the browser (performance marks set by the pages), reported,
// never asserted: a 10,000-span trace opening and scrolling, and 1,000 search results
// rendering. The functional checks here (every row reachable, 1,000 rows listed) do assert.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { bigTrace } from './fixtures.mjs';
import { launchBrowser, newPage, otlpTrace, reportFigure, screenshot, sendOtlpJson, startGateway, waitForTraces } from './harness.mjs';

/** @type {import('./harness.mjs').Gateway} */
let gw;
/** @type {import('playwright-core').Browser} */
let browser;
const BIG = 'f00df00df00df00df00df00df00df00d';
const SPANS = 10_000;
const RESULTS = 1000;

before(async () => {
  gw = await startGateway();
  await sendOtlpJson(gw, bigTrace(BIG, SPANS));
  // 1,000 small traces of one service, sent in batches of 250.
  const base = Date.now() - 10 * 60_000;
  for (let b = 0; b < RESULTS / 250; b++) {
    const bodies = [];
    for (let i = b * 250; i < (b + 1) * 250; i++) {
      bodies.push(otlpTrace({
        traceId: (0xb000000 + i).toString(16), baseMs: base + i * 500,
        spans: [
          { id: '1', service: 'bulk', name: `op-${i % 7}`, start: 0, duration: 1 + (i % 50) },
          { id: '2', parent: '1', service: 'bulk-db', name: 'query', start: 0.5, duration: 0.4, error: i % 10 === 0 },
        ],
      }).resourceSpans);
    }
    await sendOtlpJson(gw, { resourceSpans: bodies.flat() });
  }
  await waitForTraces(gw, [BIG, (0xb000000 + RESULTS - 1).toString(16).padStart(32, '0')], [SPANS, 2]);
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await gw?.stop();
});

/** @param {import('playwright-core').Page} page @param {string} name */
const measure = (page, name) => page.evaluate((n) => {
  const e = performance.getEntriesByName(n).pop();
  return e ? { duration: e.duration, end: e.startTime + e.duration } : null;
}, name);

describe('performance (figures reported, not asserted)', () => {
  test(`a ${SPANS}-span trace opens, and its timeline scrolls to the last span`, async () => {
    const { page, errors } = await newPage(browser);
    await page.goto(`${gw.url}/search`);
    await page.waitForSelector('#search-service option[value="bulk"]', { state: 'attached' });
    // Warm: modules are loaded, as for a user coming from the search page.
    await page.evaluate((id) => { history.pushState(null, '', `/trace/${id}`); dispatchEvent(new PopStateEvent('popstate')); }, BIG);
    await page.waitForSelector('.tl-row');
    await page.waitForFunction(() => performance.getEntriesByName('tg-trace-open-painted').length > 0);
    const open = await measure(page, 'tg-trace-open-painted');
    const render = await measure(page, 'tg-trace-render-painted');
    assert.ok(open && render);
    assert.equal(await page.innerText('.trace-stats [data-stat=spans] strong'), String(SPANS));
    const rowsInDom = await page.locator('.tl-row').count();
    assert.ok(rowsInDom < 200, `only visible rows are in the DOM (${rowsInDom})`);
    reportFigure('trace-10k-open (fetch+parse+render+paint)', open.duration, `${SPANS} spans, ${rowsInDom} rows in DOM`);
    reportFigure('trace-10k-render (model+render+paint)', render.duration);
    const fetched = await measure(page, 'tg-trace-fetch');
    if (fetched) reportFigure('trace-10k-fetch (API answer, JSON parsed)', fetched.duration);
    // A click right after opening is served: the page is interactive.
    const t = await page.evaluate(async () => {
      const t0 = performance.now();
      /** @type {HTMLElement} */ (document.querySelector('.tl-row:nth-child(3)')).click();
      await new Promise((r) => requestAnimationFrame(() => r(null)));
      return performance.now() - t0;
    });
    assert.equal(await page.isVisible('.span-detail'), true);
    reportFigure('trace-10k-select-span', t);
    // Find across 10,000 spans: the first search builds the text index, later ones reuse it.
    const find = await page.evaluate(() => {
      const input = /** @type {HTMLInputElement} */ (document.getElementById('trace-find'));
      const run = (/** @type {string} */ q) => {
        const t0 = performance.now();
        input.value = q;
        input.dispatchEvent(new Event('input'));
        return performance.now() - t0;
      };
      const first = run('work-3');
      const second = run('item.index=99');
      const count = document.getElementById('trace-find-count')?.textContent;
      run('');
      return { first, second, count };
    });
    assert.equal(find.count, '11 matches', 'item.index=99 matches 99 and 990-999 (the highest index is 9898)');
    reportFigure('trace-10k-find (first, builds index)', find.first);
    reportFigure('trace-10k-find (again)', find.second);
    // Scroll through the whole timeline frame by frame; the last span gets a row.
    const frames = await page.evaluate(async () => {
      const body = /** @type {HTMLElement} */ (document.querySelector('.tl-body'));
      const times = [];
      for (let i = 1; i <= 40; i++) {
        const t0 = performance.now();
        body.scrollTop = (body.scrollHeight * i) / 40;
        await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(null))));
        times.push(performance.now() - t0);
      }
      times.sort((a, b) => a - b);
      return { median: times[20], max: times[39] };
    });
    const stats = await page.evaluate(() => ({ ...(/** @type {HTMLElement} */ (document.querySelector('.tl-body')).dataset) }));
    reportFigure('trace-10k-row-render avg (JS per frame, jumps of 250 rows)', Number(stats.frameMsAvg), `${stats.frames} frames`);
    reportFigure('trace-10k-row-render max (JS per frame, jumps of 250 rows)', Number(stats.frameMsMax));
    // Smooth scrolling: 3 rows a frame for 120 frames, as a wheel or trackpad does.
    const smooth = await page.evaluate(async () => {
      const body = /** @type {HTMLElement} */ (document.querySelector('.tl-body'));
      body.scrollTop = 0;
      await new Promise((r) => requestAnimationFrame(() => r(null)));
      const before = { n: Number(body.dataset.frames), avg: Number(body.dataset.frameMsAvg) };
      const t0 = performance.now();
      for (let i = 1; i <= 120; i++) {
        body.scrollTop = i * 72;
        await new Promise((r) => requestAnimationFrame(() => r(null)));
      }
      const wall = performance.now() - t0;
      const n = Number(body.dataset.frames);
      const js = (Number(body.dataset.frameMsAvg) * n - before.avg * before.n) / (n - before.n);
      return { js, wall: wall / 120 };
    });
    reportFigure('trace-10k-smooth-scroll JS per frame (3 rows/frame)', smooth.js);
    reportFigure('trace-10k-smooth-scroll wall time per frame', smooth.wall);
    reportFigure('trace-10k-scroll-frame median (2 rAF)', frames.median);
    reportFigure('trace-10k-scroll-frame max (2 rAF)', frames.max);
    const lastOp = await page.$$eval('.tl-row', (rows) => rows.map((r) => r.querySelector('.tl-op')?.textContent));
    assert.ok(lastOp.includes(`work-${(SPANS - 101 - 1) % 37}`), 'the last span has a row after scrolling to the end');
    await screenshot(page, 'perf-trace-10k');
    // A cold open: a fresh page load straight to the trace URL.
    await page.goto(`${gw.url}/trace/${BIG}`);
    await page.waitForFunction(() => performance.getEntriesByName('tg-trace-open-painted').length > 0);
    const cold = await measure(page, 'tg-trace-open-painted');
    assert.ok(cold);
    reportFigure('trace-10k-cold-load (navigation start to painted)', cold.end);
    assert.deepEqual(errors, []);
    await page.context().close();
  });

  test(`${RESULTS} search results render`, async () => {
    const { page, errors } = await newPage(browser);
    await page.goto(`${gw.url}/search?service=bulk&lookback=1h&limit=${RESULTS}`);
    await page.waitForSelector('.result-row');
    await page.waitForFunction(() => performance.getEntriesByName('tg-search-render-painted').length > 0);
    assert.equal(await page.getAttribute('.results-list', 'data-rows'), String(RESULTS));
    const inDom = await page.locator('.result-row').count();
    assert.ok(inDom < 60, `only visible result rows are in the DOM (${inDom})`);
    assert.equal(await page.locator('.scatter-svg circle.dot').count(), RESULTS);
    assert.equal(await page.locator('.scatter-svg circle.dot.error').count(), RESULTS / 10);
    const r = await measure(page, 'tg-search-render');
    const painted = await measure(page, 'tg-search-render-painted');
    assert.ok(r && painted);
    reportFigure(`search-${RESULTS}-render (summaries+plot+list DOM)`, r.duration);
    reportFigure(`search-${RESULTS}-render-painted`, painted.duration);
    for (const part of ['summaries', 'plot', 'list']) {
      const m = await measure(page, `tg-search-${part}`);
      if (m) reportFigure(`search-${RESULTS}-${part}`, m.duration);
    }
    const t = await page.evaluate(async () => {
      const t0 = performance.now();
      const sel = /** @type {HTMLSelectElement} */ (document.getElementById('results-sort'));
      sel.value = 'longest';
      sel.dispatchEvent(new Event('change'));
      await new Promise((res) => requestAnimationFrame(() => res(null)));
      return performance.now() - t0;
    });
    reportFigure(`search-${RESULTS}-resort`, t);
    // Every result is reachable: scrolled to the end, the last (shortest) one has a row.
    await page.evaluate(() => { const m = /** @type {HTMLElement} */ (document.getElementById('page')); m.scrollTop = m.scrollHeight; });
    await page.waitForFunction(() => [...document.querySelectorAll('.result-duration')].some((d) => d.textContent === '1ms'));
    await screenshot(page, 'perf-search-1000');
    assert.deepEqual(errors, []);
    await page.context().close();
  });
});
