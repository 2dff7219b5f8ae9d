// @ts-check
/**
 * Tenancy in the web UI (issue 17 item 4): the query service has `tenancy` on with two tenants,
 * each of which sent one trace. A user opens the page (it loads without a tenant), sees the
 * tenant picker with the first tenant chosen and only that tenant's service, picks the other
 * tenant and then sees only the other's service and trace; the choice survives a reload, and
 * every API call the page made carried the tenant header.
 */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { launchBrowser, newPage, otlpTrace, screenshot, startGateway, waitUntil } from './harness.mjs';

const TENANCY = '{ enabled: true, header: x-tenant, tenants: [acme, globex] }';
const CONFIG = `
receivers:
  otlp:
    tenancy: ${TENANCY}
    protocols:
      http: { endpoint: "127.0.0.1:{{port:otlp_http}}" }
exporters:
  memory: {}
extensions:
  jaeger_query:
    storage: memory
    tenancy: ${TENANCY}
    http: { endpoint: "127.0.0.1:{{port:query}}" }
service:
  extensions: [jaeger_query]
  pipelines:
    traces: { receivers: [otlp], exporters: [memory] }
`;
const ACME = '7e0a0000000000000000000000000a01';
const GLOBEX = '7e0a0000000000000000000000000b02';

/** @type {import('./harness.mjs').Gateway} */
let gw;
/** @type {import('playwright-core').Browser} */
let browser;
let ui = '';

/** @param {string} tenant @param {string} traceId @param {string} service */
async function send(tenant, traceId, service) {
  const body = otlpTrace({ traceId, spans: [{ id: '1', service, name: `${tenant} home`, start: 0, duration: 5, kind: 'server' }] });
  const resp = await fetch(gw.otlpHttpUrl, { method: 'POST', headers: { 'Content-Type': 'application/json', 'x-tenant': tenant }, body: JSON.stringify(body) });
  assert.ok(resp.ok, `OTLP/HTTP as ${tenant} answered ${resp.status}`);
}

before(async () => {
  gw = await startGateway(CONFIG);
  ui = `http://127.0.0.1:${gw.ports.query}`;
  browser = await launchBrowser();
  await send('acme', ACME, 'acme-web');
  await send('globex', GLOBEX, 'globex-web');
  for (const [tenant, id] of [['acme', ACME], ['globex', GLOBEX]]) {
    await waitUntil(async () => (await fetch(`${ui}/api/traces/${id}`, { headers: { 'x-tenant': tenant } })).ok, `${tenant}'s trace to be stored`);
  }
});

after(async () => {
  await browser?.close();
  await gw?.stop();
});

describe('UI with tenancy', () => {
  it('offers the tenants, shows only the chosen tenant\'s traces and sends the header on every call', async () => {
    const { page, context, errors } = await newPage(browser);
    /** @type {{path: string, tenant: string | undefined}[]} */
    const calls = [];
    page.on('request', (r) => {
      const url = new URL(r.url());
      if (url.pathname.startsWith('/api/') && url.pathname !== '/api/tenancy') calls.push({ path: url.pathname, tenant: r.headers()['x-tenant'] });
    });
    await page.goto(`${ui}/search`);
    const picker = page.locator('#tenant-picker');
    await picker.waitFor();
    assert.deepEqual(await picker.locator('option').allInnerTexts(), ['acme', 'globex']);
    assert.equal(await picker.inputValue(), 'acme');
    await waitUntil(async () => (await page.locator('#search-service option').allInnerTexts()).includes('acme-web'), 'acme\'s service in the list');
    assert.ok(!(await page.locator('#search-service option').allInnerTexts()).includes('globex-web'));
    await page.goto(`${ui}/search?service=acme-web`);
    await page.locator(`.result-row[data-trace-id="${ACME}"]`).waitFor();
    await screenshot(page, 'tenancy-acme');

    await Promise.all([page.waitForEvent('load'), page.locator('#tenant-picker').selectOption('globex')]);
    await page.goto(`${ui}/search?service=globex-web`);
    await page.locator(`.result-row[data-trace-id="${GLOBEX}"]`).waitFor();
    assert.equal(await page.locator('#tenant-picker').inputValue(), 'globex', 'the choice is kept');
    const services = await page.locator('#search-service option').allInnerTexts();
    assert.ok(services.includes('globex-web') && !services.includes('acme-web'), services.join(', '));
    await screenshot(page, 'tenancy-globex');
    // acme's trace is not found as globex.
    await page.goto(`${ui}/trace/${ACME}`);
    await page.getByText(/not found|404/i).first().waitFor();

    assert.ok(calls.length > 0);
    assert.deepEqual(calls.filter((c) => c.tenant !== 'acme' && c.tenant !== 'globex'), [], 'every API call names a tenant');
    assert.deepEqual(errors.filter((e) => !/status of 404/.test(e)), []);
    await context.close();
  });
});
