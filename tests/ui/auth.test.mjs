// @ts-check
/**
 * The web UI behind basic auth (`jaeger_query.http.auth` naming a `basicauth` extension), in
 * headless chromium: a browser without credentials gets the 401 and challenge that make a real
 * browser show its password dialog; a browser that answers it (playwright's httpCredentials,
 * what a user typing into the dialog does) loads the UI, whose own API calls then carry the
 * credentials, and finds a stored trace.
 */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { launchBrowser, newPage, otlpTrace, screenshot, sendOtlpJson, startGateway, waitUntil } from './harness.mjs';

// `htpasswd -nbs bob builder`.
const CONFIG = `
receivers:
  otlp:
    protocols:
      http: { endpoint: "127.0.0.1:{{port:otlp_http}}" }
exporters:
  memory: {}
extensions:
  basicauth/ui:
    htpasswd: { inline: "bob:{SHA}9SMYoF5RilWWASry7TjeaKwmpGg=" }
  jaeger_query:
    storage: memory
    http: { endpoint: "127.0.0.1:{{port:query}}", auth: { authenticator: basicauth/ui } }
service:
  extensions: [basicauth/ui, jaeger_query]
  pipelines:
    traces: { receivers: [otlp], exporters: [memory] }
`;
const BASIC = `Basic ${Buffer.from('bob:builder').toString('base64')}`;
// 32 digits without leading zeros: the UI shows ids as Jaeger does (leading zeros dropped).
const TRACE_ID = '7ace00000000000000000000000000a1';
const TRACE = otlpTrace({
  traceId: TRACE_ID, spans: [{ id: '1', service: 'auth-ui', name: 'GET /private', start: 0, duration: 12, kind: 'server' }],
});

/** @type {import('./harness.mjs').Gateway} */
let gw;
/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
  gw = await startGateway(CONFIG);
  browser = await launchBrowser();
  await sendOtlpJson(gw, TRACE);
  await waitUntil(async () => {
    const r = await fetch(`${gw.url}/api/traces/${TRACE_ID}`, { headers: { Authorization: BASIC } });
    return r.ok;
  }, 'the trace to be stored');
});

after(async () => {
  await browser?.close();
  await gw?.stop();
});

describe('UI behind basic auth', () => {
  it('asks a browser without credentials for them, the browser way', async () => {
    const { page, context } = await newPage(browser);
    // What the browser is sent: 401 with the Basic challenge, for the UI and the API alike.
    for (const path of ['/', '/search', '/api/services']) {
      const response = await context.request.get(`${gw.url}${path}`);
      assert.equal(response.status(), 401, path);
      assert.match(response.headers()['www-authenticate'] ?? '', /^Basic realm="tracegate"/, path);
    }
    // Headless chromium has no dialog to show, so it gives up the navigation the way a user
    // cancelling the dialog would, and nothing of the UI loads.
    await assert.rejects(page.goto(gw.url), /ERR_INVALID_AUTH_CREDENTIALS/);
    await context.close();
  });

  it('serves the UI and its API calls to a browser that answered the challenge', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, httpCredentials: { username: 'bob', password: 'builder' } });
    context.setDefaultTimeout(60_000);
    const page = await context.newPage();
    /** @type {string[]} */
    const errors = [];
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
    const response = await page.goto(`${gw.url}/search?service=auth-ui`);
    assert.equal(response?.status(), 200);
    const row = page.locator(`.result-row[data-trace-id="${TRACE_ID}"]`);
    await row.waitFor();
    await screenshot(page, 'auth-basic-search');
    assert.deepEqual(errors, []);
    await context.close();
  });
});
