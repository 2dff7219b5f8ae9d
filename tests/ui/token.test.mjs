// @ts-check
/**
 * The web UI behind a bearer token (`bearertokenauth`) and a reverse proxy with `base_path`,
 * in headless chromium. The proxy is a few lines of node `http` started by the test, serving
 * the gateway's query port under `/jaeger` as nginx's `location /jaeger/ { proxy_pass ...; }`
 * would (the prefix is passed through; tracegate's `base_path: /jaeger` expects it).
 *
 * What a user meets: the page loads without a token (its files hold no data) and, when the
 * API refuses, asks for one; the token typed there, or handed over in the URL fragment
 * (`#access_token=`), is kept for the tab and sent on every API call; the fragment is wiped from
 * the address bar; a refused token is asked for again. All of it under the page's
 * Content-Security-Policy, with no violation reported.
 */

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';

import { freePort, launchBrowser, newPage, otlpTrace, screenshot, sendOtlpJson, startGateway, waitUntil } from './harness.mjs';

const TOKEN = 'ui-token-7f3a9c';
const CONFIG = `
receivers:
  otlp:
    protocols:
      http: { endpoint: "127.0.0.1:{{port:otlp_http}}" }
exporters:
  memory: {}
extensions:
  bearertokenauth/ui:
    token: ${TOKEN}
  jaeger_query:
    storage: memory
    base_path: /jaeger
    http: { endpoint: "127.0.0.1:{{port:query}}", auth: { authenticator: bearertokenauth/ui } }
service:
  extensions: [bearertokenauth/ui, jaeger_query]
  pipelines:
    traces: { receivers: [otlp], exporters: [memory] }
`;
const TRACE_ID = '70ce00000000000000000000000000b2';
const SERVICE = 'token-ui';
const TRACE = otlpTrace({
  traceId: TRACE_ID, spans: [{ id: '1', service: SERVICE, name: 'GET /behind-proxy', start: 0, duration: 9, kind: 'server' }],
});

/** @type {import('./harness.mjs').Gateway} */
let gw;
/** @type {import('playwright-core').Browser} */
let browser;
/** @type {http.Server} */
let proxy;
/** Base URL of the UI through the proxy: `http://127.0.0.1:<port>/jaeger`. */
let ui = '';
/** What the proxy forwarded: path and whether it carried an Authorization header. */
/** @type {{path: string, authorization: string | undefined}[]} */
const forwarded = [];

/** A reverse proxy of `/jaeger/...` to the gateway's query port; anything else is 404. */
async function startProxy(target) {
  const port = await freePort();
  const server = http.createServer((req, res) => {
    if (!req.url?.startsWith('/jaeger')) {
      res.writeHead(404).end('not proxied');
      return;
    }
    forwarded.push({ path: req.url, authorization: req.headers.authorization });
    const upstream = http.request({ host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: { ...req.headers, 'x-forwarded-prefix': '/jaeger' } }, (up) => {
      res.writeHead(up.statusCode || 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', (e) => { res.writeHead(502).end(String(e)); });
    req.pipe(upstream);
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(null)));
  return { server, url: `http://127.0.0.1:${port}` };
}

before(async () => {
  gw = await startGateway(CONFIG);
  const p = await startProxy(gw.ports.query);
  proxy = p.server;
  ui = `${p.url}/jaeger`;
  browser = await launchBrowser();
  await sendOtlpJson(gw, TRACE);
  await waitUntil(async () => {
    const r = await fetch(`${ui}/api/traces/${TRACE_ID}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    return r.ok;
  }, 'the trace to be stored');
});

after(async () => {
  await browser?.close();
  await new Promise((resolve) => (proxy ? proxy.close(() => resolve(null)) : resolve(null)));
  await gw?.stop();
});

/** Console errors other than the refused API calls the test provokes on purpose. */
function unexpected(/** @type {string[]} */ errors) {
  return errors.filter((e) => !/status of 401/.test(e));
}

describe('UI behind a bearer token and a reverse proxy', () => {
  it('serves the page and its files without a token, and the API only with one', async () => {
    const page = await fetch(`${ui}/search`);
    assert.equal(page.status, 200);
    const policy = page.headers.get('content-security-policy') || '';
    assert.match(policy, /script-src 'self'/);
    assert.match(policy, /frame-ancestors 'none'/);
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
    assert.match(await page.text(), /<base href="\/jaeger\/">/);
    assert.equal((await fetch(`${ui}/static/app.js`)).status, 200);
    const api = await fetch(`${ui}/api/services`);
    assert.equal(api.status, 401);
    assert.match(api.headers.get('www-authenticate') || '', /^Bearer /);
  });

  it('asks for the token, keeps it for the tab and sends it on every API call', async () => {
    const { page, context, errors } = await newPage(browser);
    await page.goto(`${ui}/search?service=${SERVICE}`);
    const form = page.locator('form.token-login');
    await form.waitFor();
    await screenshot(page, 'auth-token-prompt');
    forwarded.length = 0;
    await form.locator('input[type=password]').fill(TOKEN);
    await form.locator('button[type=submit]').click();
    await page.locator(`.result-row[data-trace-id="${TRACE_ID}"]`).waitFor();
    await screenshot(page, 'auth-token-search');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('tracegate.token')), TOKEN);
    const apiCalls = forwarded.filter((f) => f.path.startsWith('/jaeger/api/'));
    assert.ok(apiCalls.length > 0, 'the UI called the API through the proxy');
    assert.deepEqual(apiCalls.filter((f) => f.authorization !== `Bearer ${TOKEN}`), [], 'every API call carries the token');
    // A link inside the app keeps the token: open the trace.
    await page.locator(`.result-row[data-trace-id="${TRACE_ID}"] a`).first().click();
    await page.waitForURL(new RegExp(`/jaeger/trace/${TRACE_ID}`));
    await page.locator('.tl-row').first().waitFor();
    assert.deepEqual(unexpected(errors), []);
    await context.close();
  });

  it('takes a token from the URL fragment and wipes it from the address bar', async () => {
    const { page, context, errors } = await newPage(browser);
    await page.goto(`${ui}/search?service=${SERVICE}#access_token=${TOKEN}`);
    await page.locator(`.result-row[data-trace-id="${TRACE_ID}"]`).waitFor();
    assert.ok(!page.url().includes(TOKEN), page.url());
    assert.equal(await page.locator('form.token-login').count(), 0);
    assert.deepEqual(errors, []);
    await context.close();
  });

  it('asks again when the token is refused', async () => {
    const { page, context } = await newPage(browser);
    await page.goto(`${ui}/search?service=${SERVICE}#access_token=not-the-token`);
    const form = page.locator('form.token-login');
    await form.waitFor();
    assert.match(await form.innerText(), /refused/);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('tracegate.token')), null, 'a refused token is forgotten');
    await context.close();
  });
});
