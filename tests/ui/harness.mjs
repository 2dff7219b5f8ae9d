// @ts-check
/**
 * Shared harness of the browser tests: the real `tracegate` binary started from a config on
 * free loopback ports (as tests/e2e/conftest.py does), traces sent through its OTLP/HTTP
 * receiver as JSON, and headless Debian chromium driven by playwright-core.
 *
 * The same guarantees as the Python fixtures, for the same reasons: a gateway is used only
 * once its ports accept connections (no sleeps), every gateway is stopped with SIGTERM and must
 * exit 0, and no two gateways share a port. Nothing here skips: a missing binary, browser or
 * package fails with a message saying what to install.
 */

import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const ARTIFACTS = process.env.TRACEGATE_UI_ARTIFACTS || path.join(REPO, 'target', 'ui-artifacts');
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 60_000;

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** @returns {Promise<number>} a TCP port on 127.0.0.1 nothing listens on right now */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** @param {number} port */
function accepts(port) {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** @param {number} ms */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `condition` until it returns something truthy; throws naming `what` at the deadline.
 * @template T
 * @param {() => Promise<T> | T} condition
 * @param {string} what
 * @param {number} [timeoutMs]
 * @returns {Promise<T>}
 */
export async function waitUntil(condition, what, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await condition();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await sleep(50);
  }
}

/** The default config: OTLP/HTTP in, memory store, jaeger_query with the UI. */
export const DEFAULT_CONFIG = `
receivers:
  otlp:
    protocols:
      http: { endpoint: "127.0.0.1:{{port:otlp_http}}" }
exporters:
  memory: {}
extensions:
  jaeger_query:
    storage: memory
    http: { endpoint: "127.0.0.1:{{port:query}}" }
service:
  extensions: [jaeger_query]
  telemetry: { metrics: { address: "127.0.0.1:{{port:metrics}}" }, logs: { level: info } }
  pipelines:
    traces: { receivers: [otlp], exporters: [memory] }
`;

/** @type {Set<Gateway>} */
const running = new Set();
process.on('exit', () => { for (const g of running) g.proc.kill('SIGKILL'); });

/**
 * @typedef {{
 *   proc: import('node:child_process').ChildProcess, ports: Record<string, number>,
 *   url: string, otlpHttpUrl: string, configPath: string, stderr: () => string,
 *   stop: () => Promise<void>, kill: () => Promise<void>
 * }} Gateway
 */

/** @returns {string} the binary from TRACEGATE_BIN (or target/debug/tracegate), checked */
export function binaryPath() {
  const raw = process.env.TRACEGATE_BIN || path.join(REPO, 'target', 'debug', 'tracegate');
  const bin = path.isAbsolute(raw) ? raw : path.join(REPO, raw);
  try {
    fs.accessSync(bin, fs.constants.X_OK);
  } catch {
    throw new Error(`TRACEGATE_BIN=${raw} is not an executable file: build it with cargo build --bin tracegate, or run scripts/test`);
  }
  return bin;
}

/**
 * Starts the binary. `config` is YAML text (or an object, written as JSON, which YAML reads);
 * every `{{port:NAME}}` in it becomes a free port, reported as `gw.ports.NAME` and waited for
 * until it accepts connections. `gw.url` is `http://127.0.0.1:<ports.query>` (no base path);
 * `gw.otlpHttpUrl` is the OTLP/HTTP traces URL when a `otlp_http` port was named.
 * @param {string | object} [config]
 * @param {{env?: Record<string, string>}} [opts]
 * @returns {Promise<Gateway>}
 */
export async function startGateway(config = DEFAULT_CONFIG, opts = {}) {
  const bin = binaryPath();
  let text = typeof config === 'string' ? config : JSON.stringify(config, null, 1);
  /** @type {Record<string, number>} */
  const ports = {};
  for (const m of text.matchAll(/\{\{port:([a-z0-9_]+)\}\}/g)) {
    if (!(m[1] in ports)) ports[m[1]] = await freePort();
  }
  text = text.replace(/\{\{port:([a-z0-9_]+)\}\}/g, (_, name) => String(ports[name]));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tracegate-ui-'));
  const configPath = path.join(dir, 'gateway.yaml');
  fs.writeFileSync(configPath, text);
  const args = ['--config', configPath];
  // Never the default metrics port 8888: two gateways (or another test run) would collide.
  if (!('metrics' in ports) && !/metrics:/.test(text)) {
    ports.metrics = await freePort();
    args.push('--set', `service.telemetry.metrics.address=127.0.0.1:${ports.metrics}`);
  }
  const stderrPath = path.join(dir, 'stderr.log');
  const errFd = fs.openSync(stderrPath, 'w');
  const proc = spawn(bin, args, { stdio: ['ignore', 'ignore', errFd], env: { RUST_LOG: 'info', ...process.env, ...(opts.env || {}) } });
  fs.closeSync(errFd);
  const stderr = () => { try { return fs.readFileSync(stderrPath, 'utf8'); } catch { return ''; } };
  const describe = () => `--- config ${configPath} ---\n${text}\n--- stderr ---\n${stderr().slice(-20000)}`;
  /** @type {number | null} */
  let exitCode = null;
  /** @type {NodeJS.Signals | null} */
  let exitSignal = null;
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => { exitCode = code; exitSignal = signal; running.delete(gw); resolve(null); }));
  /** @type {Gateway} */
  const gw = {
    proc, ports, configPath, stderr,
    url: `http://127.0.0.1:${ports.query}`,
    otlpHttpUrl: `http://127.0.0.1:${ports.otlp_http}/v1/traces`,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(t);
      if (exitCode !== 0) throw new Error(`gateway exited with ${exitCode ?? exitSignal} after SIGTERM (must be 0)\n${describe()}`);
    },
    async kill() {
      proc.kill('SIGKILL');
      await exited;
    },
  };
  running.add(gw);
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (const [name, port] of Object.entries(ports)) {
    while (!(await accepts(port))) {
      if (exitCode !== null || exitSignal !== null) throw new Error(`gateway exited with ${exitCode ?? exitSignal} before port ${name}=${port} was open\n${describe()}`);
      if (Date.now() > deadline) {
        await gw.kill();
        throw new Error(`gateway: port ${name}=${port} not open after ${READY_TIMEOUT_MS / 1000}s\n${describe()}`);
      }
      await sleep(50);
    }
  }
  return gw;
}

/**
 * POSTs an OTLP JSON body (`{resourceSpans: [...]}`) to the gateway's OTLP/HTTP receiver;
 * throws unless it answers 2xx.
 * @param {Gateway | string} target a gateway (with an `otlp_http` port) or a full URL
 * @param {object} body
 */
export async function sendOtlpJson(target, body) {
  const url = typeof target === 'string' ? target : target.otlpHttpUrl;
  const resp = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const text = await resp.text();
  if (!resp.ok) throw new Error(`OTLP/HTTP POST ${url} answered ${resp.status}: ${text.slice(0, 500)}`);
  return resp.status;
}

/**
 * Waits until the query API serves each trace whole (`spanCounts[i]` spans), since the store
 * is written behind the exporter's queue.
 * @param {Gateway} gw
 * @param {string[]} traceIds
 * @param {number[]} [spanCounts]
 * @param {string} [basePath] e.g. `/jaeger`
 */
export async function waitForTraces(gw, traceIds, spanCounts, basePath = '') {
  for (const [i, id] of traceIds.entries()) {
    await waitUntil(async () => {
      const r = await fetch(`${gw.url}${basePath}/api/traces/${id}`);
      if (!r.ok) return false;
      const body = await r.json();
      const n = body?.data?.[0]?.spans?.length ?? 0;
      return spanCounts ? n >= spanCounts[i] : n > 0;
    }, `trace ${id} to be stored`);
  }
}

/** @param {Record<string, any>} attrs */
function otlpAttributes(attrs = {}) {
  return Object.entries(attrs).map(([key, v]) => ({
    key,
    value: typeof v === 'boolean' ? { boolValue: v }
      : typeof v === 'number' ? (Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v })
        : { stringValue: String(v) },
  }));
}

const KIND = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 };

/**
 * @typedef {{
 *   id: string, parent?: string, service: string, name: string, start: number, duration: number,
 *   attributes?: Record<string, any>, events?: {name: string, at: number, attributes?: Record<string, any>}[],
 *   error?: boolean, kind?: keyof typeof KIND, links?: {traceId: string, spanId: string}[]
 * }} SpanSpec  times in milliseconds from the trace's `baseMs`
 */

/**
 * OTLP JSON for a trace described compactly: one resource per service (with `service.name`).
 * Span ids are padded to 16 hex digits, the trace id to 32.
 * @param {{traceId: string, baseMs?: number, spans: SpanSpec[], resources?: Record<string, Record<string, any>>}} spec
 */
export function otlpTrace(spec) {
  const traceId = spec.traceId.padStart(32, '0');
  const base = BigInt(Math.round((spec.baseMs ?? Date.now() - 60_000) * 1000)) * 1000n;
  const ns = (/** @type {number} */ ms) => String(base + BigInt(Math.round(ms * 1e6)));
  /** @type {Map<string, any[]>} */
  const byService = new Map();
  for (const s of spec.spans) {
    const span = {
      traceId,
      spanId: s.id.padStart(16, '0'),
      ...(s.parent ? { parentSpanId: s.parent.padStart(16, '0') } : {}),
      name: s.name,
      kind: KIND[s.kind || 'internal'],
      startTimeUnixNano: ns(s.start),
      endTimeUnixNano: ns(s.start + s.duration),
      attributes: otlpAttributes(s.attributes),
      events: (s.events || []).map((e) => ({ timeUnixNano: ns(e.at), name: e.name, attributes: otlpAttributes(e.attributes) })),
      links: (s.links || []).map((l) => ({ traceId: l.traceId.padStart(32, '0'), spanId: l.spanId.padStart(16, '0') })),
      status: s.error ? { code: 2, message: 'failed' } : {},
    };
    if (!byService.has(s.service)) byService.set(s.service, []);
    byService.get(s.service)?.push(span);
  }
  return {
    resourceSpans: [...byService].map(([service, spans]) => ({
      resource: { attributes: otlpAttributes({ 'service.name': service, ...(spec.resources?.[service] || {}) }) },
      scopeSpans: [{ scope: { name: 'tracegate-ui-tests' }, spans }],
    })),
  };
}

/** playwright-core, from TRACEGATE_UI_NODE_MODULES (set by scripts/test) or tests/ui/node_modules. */
function playwright() {
  const dirs = [process.env.TRACEGATE_UI_NODE_MODULES, path.join(REPO, 'tests', 'ui', 'node_modules')].filter(Boolean);
  for (const dir of dirs) {
    try {
      return createRequire(path.join(/** @type {string} */ (dir), '_'))('playwright-core');
    } catch { /* try the next */ }
  }
  throw new Error(`playwright-core is not installed (looked in ${dirs.join(', ')}): run scripts/install-ui-deps and set TRACEGATE_UI_NODE_MODULES to the path it prints, or run scripts/test`);
}

/**
 * Headless Debian chromium, launched as the issue says.
 * @returns {Promise<import('playwright-core').Browser>}
 */
export async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (or run scripts/install-ui-deps)`);
  return playwright().chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/**
 * A page at 1280x800 (the size the UI must be usable at) that records uncaught errors and
 * console errors in `errors`, so a test can require a clean console.
 * @param {import('playwright-core').Browser} browser
 * @param {{colorScheme?: 'light' | 'dark'}} [opts]
 */
export async function newPage(browser, opts = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: opts.colorScheme || 'light' });
  // Generous: a deadline bounds a wait for a condition on a loaded 2-core machine, it does
  // not measure speed.
  context.setDefaultTimeout(60_000);
  const page = await context.newPage();
  // For working on the UI without relinking the binary: serve ui/ from the source tree.
  if (process.env.TRACEGATE_UI_FROM_SOURCE) {
    const ui = path.join(REPO, 'extensions', 'jaeger_query', 'ui');
    await context.route(/\/static\//, async (route) => {
      const rel = new URL(route.request().url()).pathname.replace(/^.*?\/static\//, '');
      const file = path.join(ui, rel);
      if (!file.startsWith(ui) || !fs.existsSync(file)) return route.fulfill({ status: 404, body: 'not found' });
      const type = file.endsWith('.css') ? 'text/css' : file.endsWith('.js') ? 'text/javascript' : 'application/octet-stream';
      return route.fulfill({ status: 200, contentType: type, body: fs.readFileSync(file) });
    });
  }
  /** @type {string[]} */
  const errors = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  return { page, context, errors };
}

/**
 * Saves a full-page screenshot as a test artifact: `<ARTIFACTS>/<name>.png`.
 * @param {import('playwright-core').Page} page
 * @param {string} name
 */
export async function screenshot(page, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  return file;
}

/**
 * Records a measured figure (printed, and appended to `<ARTIFACTS>/perf.jsonl`); never an
 * assertion.
 * @param {string} name
 * @param {number} ms
 * @param {string} [detail]
 */
export function reportFigure(name, ms, detail = '') {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  fs.appendFileSync(path.join(ARTIFACTS, 'perf.jsonl'), JSON.stringify({ name, ms: Math.round(ms * 10) / 10, detail, at: new Date().toISOString() }) + '\n');
  console.log(`# perf: ${name}: ${ms.toFixed(1)} ms ${detail}`);
}
