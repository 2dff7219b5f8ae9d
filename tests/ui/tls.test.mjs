// @ts-check
/**
 * The web UI over TLS and behind basic auth together, in headless chromium: the query port
 * serves HTTPS with a certificate the test makes (openssl, for 127.0.0.1), a client that trusts
 * only that certificate gets the Basic challenge over a verified connection, and a browser that
 * answers the challenge loads the UI over https and finds a stored trace through the UI's own
 * (https) API calls.
 */

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { launchBrowser, otlpTrace, screenshot, sendOtlpJson, startGateway, waitUntil } from './harness.mjs';

const BASIC = `Basic ${Buffer.from('bob:builder').toString('base64')}`;
const TRACE_ID = '7ace00000000000000000000000000b2';
const TRACE = otlpTrace({
  traceId: TRACE_ID, spans: [{ id: '1', service: 'tls-ui', name: 'GET /secret', start: 0, duration: 9, kind: 'server' }],
});

/** A self-signed certificate for 127.0.0.1, made with openssl; fails the test, naming what is missing, without it. */
function makeCertificate() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tracegate-ui-tls-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'pipe' });
  } catch (e) {
    throw new Error(`openssl could not make the test's certificate (is openssl installed?): ${e}`);
  }
  return { cert, key };
}

/**
 * GET over https trusting only `ca`: the status and headers.
 * @param {string} url @param {string} ca @param {Record<string, string>} [headers]
 * @returns {Promise<{ status: number, headers: import('node:http').IncomingHttpHeaders }>}
 */
function httpsGet(url, ca, headers = {}) {
  return new Promise((resolve, reject) => {
    https.get(url, { ca, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    }).on('error', reject);
  });
}

/** @type {import('./harness.mjs').Gateway} */
let gw;
/** @type {import('playwright-core').Browser} */
let browser;
/** @type {string} */
let ca;
/** @type {string} */
let httpsUrl;

before(async () => {
  const { cert, key } = makeCertificate();
  ca = fs.readFileSync(cert, 'utf8');
  // `htpasswd -nbs bob builder`.
  gw = await startGateway(`
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
    http:
      endpoint: "127.0.0.1:{{port:query}}"
      tls: { cert_file: "${cert}", key_file: "${key}" }
      auth: { authenticator: basicauth/ui }
service:
  extensions: [basicauth/ui, jaeger_query]
  pipelines:
    traces: { receivers: [otlp], exporters: [memory] }
`);
  httpsUrl = gw.url.replace(/^http:/, 'https:');
  browser = await launchBrowser();
  await sendOtlpJson(gw, TRACE);
  await waitUntil(async () => (await httpsGet(`${httpsUrl}/api/traces/${TRACE_ID}`, ca, { Authorization: BASIC })).status === 200, 'the trace to be stored');
});

after(async () => {
  await browser?.close();
  await gw?.stop();
});

describe('UI over TLS behind basic auth', () => {
  it('answers a client that verifies the certificate with the Basic challenge, and plain HTTP not at all', async () => {
    const anonymous = await httpsGet(`${httpsUrl}/search`, ca);
    assert.equal(anonymous.status, 401);
    assert.match(String(anonymous.headers['www-authenticate'] ?? ''), /^Basic realm="tracegate"/);
    assert.equal((await httpsGet(`${httpsUrl}/api/services`, ca, { Authorization: BASIC })).status, 200);
    // Plain HTTP to the TLS port is a failed exchange, not an answer (and not a hang).
    await assert.rejects(fetch(`${gw.url}/api/services`, { signal: AbortSignal.timeout(20_000) }), (e) => !(/** @type {Error} */ (e)).message.includes('aborted'));
  });

  it('serves the UI and its API calls over https to a browser that answered the challenge', async () => {
    // The browser is told to accept the test's self-signed certificate (a user would install
    // the CA); the client above is what checks the certificate itself.
    const context = await browser.newContext({
      viewport: { width: 1280, height: 800 }, ignoreHTTPSErrors: true, httpCredentials: { username: 'bob', password: 'builder' },
    });
    context.setDefaultTimeout(60_000);
    const page = await context.newPage();
    /** @type {string[]} */
    const errors = [];
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
    /** @type {string[]} */
    const plain = [];
    page.on('request', (r) => { if (!r.url().startsWith('https:')) plain.push(r.url()); });
    const response = await page.goto(`${httpsUrl}/search?service=tls-ui`);
    assert.equal(response?.status(), 200);
    await page.locator(`.result-row[data-trace-id="${TRACE_ID}"]`).waitFor();
    await screenshot(page, 'tls-basic-search');
    assert.deepEqual(errors, []);
    assert.deepEqual(plain, [], 'every request of the page goes over https');
    await context.close();
  });
});
