// @ts-check
/**
 * Opening a trace from a file, in headless chromium: Jaeger JSON as `/api/traces` returns it,
 * and OTLP JSON (hex and base64 ids, several traces in one file) that was never sent to the
 * gateway; the conversion gives the tags, kinds, processes and references the server's own
 * translator gives; a file that is neither is an error state.
 */

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { launchBrowser, newPage, otlpTrace, screenshot, sendOtlpJson, startGateway, waitForTraces } from './harness.mjs';
import { A_ID, checkoutA } from './part2-fixtures.mjs';

/** @type {import('./harness.mjs').Gateway} */
let gw;
/** @type {import('playwright-core').Browser} */
let browser;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tracegate-upload-'));

before(async () => {
  gw = await startGateway();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await gw?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The first trace of the file: hex ids, as OTLP/JSON has them (the gateway reads only those). */
function otlpOne() {
  return otlpTrace({
    traceId: 'aa11', baseMs: 1_700_000_000_000,
    spans: [
      { id: '1', service: 'upload-web', name: 'GET /files', start: 0, duration: 40, kind: 'server', attributes: { 'http.status_code': 200, ok: true, ratio: 0.5 } },
      { id: '2', parent: '1', service: 'upload-db', name: 'SELECT', start: 5, duration: 20, kind: 'client', error: true, events: [{ name: 'retry', at: 6, attributes: { attempt: 2 } }] },
    ],
    resources: { 'upload-web': { 'host.name': 'h1' } },
  });
}

/** Two traces in one OTLP file, the second with base64 ids (protobuf's generic JSON mapping). */
function otlpFile() {
  const one = otlpOne();
  const two = otlpTrace({ traceId: '0102030405060708090a0b0c0d0e0f10', baseMs: 1_700_000_000_000, spans: [{ id: 'ff', service: 'upload-batch', name: 'nightly', start: 0, duration: 1000 }] });
  const b64 = (/** @type {string} */ hex) => Buffer.from(hex, 'hex').toString('base64');
  for (const rs of two.resourceSpans) {
    for (const s of rs.scopeSpans[0].spans) { s.traceId = b64(s.traceId); s.spanId = b64(s.spanId); }
  }
  return { resourceSpans: [...one.resourceSpans, ...two.resourceSpans] };
}

describe('upload', () => {
  it('opens Jaeger JSON as /api/traces returns it', async () => {
    await sendOtlpJson(gw, checkoutA(Date.now() - 60_000));
    await waitForTraces(gw, [A_ID], [7]);
    const file = path.join(dir, 'jaeger.json');
    fs.writeFileSync(file, await (await fetch(`${gw.url}/api/traces/${A_ID}`)).text());
    const { page, errors } = await newPage(browser);
    await page.goto(`${gw.url}/upload`);
    await page.setInputFiles('#up-file', file);
    await page.waitForSelector('.up-summary');
    assert.match(await page.textContent('.up-summary') || '', /jaeger\.json: 1 trace \(not stored\)/);
    await page.waitForFunction(() => (document.querySelector('.up-trace')?.textContent || '').includes('GET /checkout'));
    assert.equal(await page.locator('.up-trace .state-error').count(), 0);
    await screenshot(page, 'page-upload-jaeger');
    assert.deepEqual(errors, []);
    await page.context().close();
  });

  it('opens OTLP JSON never sent to the gateway, converted as the server converts it', async () => {
    const file = path.join(dir, 'otlp.json');
    fs.writeFileSync(file, JSON.stringify(otlpFile()));
    const { page, errors } = await newPage(browser);
    await page.goto(`${gw.url}/upload`);
    await page.setInputFiles('#up-file', file);
    await page.waitForSelector('.up-list button');
    assert.match(await page.textContent('.up-summary') || '', /2 traces/);
    const ids = await page.$$eval('.up-list button', (bs) => bs.map((b) => /** @type {HTMLElement} */ (b).dataset.traceId));
    assert.deepEqual(ids, ['000000000000aa11', '0102030405060708090a0b0c0d0e0f10']);
    await page.click('.up-list button[data-trace-id="000000000000aa11"]');
    await page.waitForFunction(() => (document.querySelector('.up-trace')?.textContent || '').includes('GET /files'));
    await screenshot(page, 'page-upload-otlp');

    // Nothing was stored.
    const stored = await fetch(`${gw.url}/api/traces/000000000000aa11`);
    assert.equal(stored.status, 404);

    // The conversion, checked against what the server's translator makes of the same OTLP.
    const converted = await page.evaluate(async (text) => (await import('/static/upload/parse.js')).parseTraceFile(text), fs.readFileSync(file, 'utf8'));
    const one = converted[0];
    assert.equal(one.traceID, '000000000000aa11');
    assert.deepEqual(Object.values(one.processes).map((/** @type {any} */ p) => p.serviceName), ['upload-web', 'upload-db']);
    await sendOtlpJson(gw, otlpOne());
    await waitForTraces(gw, ['000000000000aa11'], [2]);
    const server = (await (await fetch(`${gw.url}/api/traces/000000000000aa11?raw=true`)).json()).data[0];
    const bySpan = (/** @type {any} */ t) => Object.fromEntries(t.spans.map((/** @type {any} */ s) => [s.spanID, s]));
    const mine = bySpan(one);
    const theirs = bySpan(server);
    assert.deepEqual(Object.keys(mine).sort(), Object.keys(theirs).sort());
    for (const [id, s] of Object.entries(theirs)) {
      const m = mine[id];
      const strip = (/** @type {any[]} */ tags) => tags.map((t) => `${t.key}=${t.type}:${t.value}`).sort();
      assert.deepEqual(strip(m.tags), strip(s.tags), `tags of ${id}`);
      assert.deepEqual([m.operationName, m.startTime, m.duration], [s.operationName, s.startTime, s.duration]);
      assert.deepEqual(m.references.map((/** @type {any} */ r) => `${r.refType}:${r.spanID}`), s.references.map((/** @type {any} */ r) => `${r.refType}:${r.spanID}`));
      assert.deepEqual(m.logs.map((/** @type {any} */ l) => [l.timestamp, strip(l.fields)]), s.logs.map((/** @type {any} */ l) => [l.timestamp, strip(l.fields)]));
      assert.deepEqual(strip(one.processes[m.processID].tags), strip(server.processes[s.processID].tags));
    }
    assert.equal(converted[1].traceID, '0102030405060708090a0b0c0d0e0f10', 'base64 ids are read');
    assert.equal(converted[1].spans[0].spanID, '00000000000000ff');
    assert.deepEqual(errors, []);
    await page.context().close();
  });

  it('a file that is not a trace is an error state', async () => {
    const { page } = await newPage(browser);
    await page.goto(`${gw.url}/upload`);
    const file = path.join(dir, 'not-a-trace.json');
    fs.writeFileSync(file, '{"hello": "world"}');
    await page.setInputFiles('#up-file', file);
    await page.waitForSelector('.state-error');
    assert.match(await page.textContent('.state-error') || '', /not a trace file.*No trace found/s);
    fs.writeFileSync(file, '{broken');
    await page.setInputFiles('#up-file', []);
    await page.setInputFiles('#up-file', file);
    await page.waitForFunction(() => /not JSON/.test(document.querySelector('.state-error')?.textContent || ''));
    await screenshot(page, 'page-upload-error');
    // Pasted text opens the same way.
    await page.fill('textarea[aria-label="Trace JSON"]', JSON.stringify(otlpOne()));
    await page.click('text=Open pasted JSON');
    await page.waitForFunction(() => (document.querySelector('.up-trace')?.textContent || '').includes('GET /files'));
    assert.match(await page.textContent('.up-summary') || '', /pasted text: 1 trace/);
    await page.context().close();
  });
});
