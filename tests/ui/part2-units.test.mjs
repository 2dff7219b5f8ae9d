// @ts-check
/**
 * The pure modules of part 2, run in the browser that serves them (the files the binary
 * embeds, imported by URL): the layered layout's invariants on random graphs with cycles,
 * self-loops and duplicate edges; the trace-file parser on every shape it accepts; self time
 * and the compare matcher on hand-made traces.
 */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { launchBrowser, newPage, startGateway } from './harness.mjs';

/** @type {import('./harness.mjs').Gateway} */
let gw;
/** @type {import('playwright-core').Browser} */
let browser;
/** @type {import('playwright-core').Page} */
let page;

before(async () => {
  gw = await startGateway();
  browser = await launchBrowser();
  page = (await newPage(browser)).page;
  await page.goto(`${gw.url}/upload`);
  await page.waitForSelector('nav.top a');
});

after(async () => {
  await browser?.close();
  await gw?.stop();
});

describe('part 2 pure modules', () => {
  it('layered layout: every node placed once, none overlapping, edges left to right unless reversed', async () => {
    const problems = await page.evaluate(async () => {
      const { layeredLayout } = await import('/static/deps/layout.js');
      /** @type {string[]} */
      const out = [];
      let seed = 7;
      const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
      for (const n of [1, 2, 5, 20, 50, 80]) {
        for (let round = 0; round < 5; round++) {
          const ids = Array.from({ length: n }, (_, i) => `s${i}`);
          const edges = [];
          for (let k = 0; k < n * 1.6; k++) edges.push({ from: ids[Math.floor(rnd() * n)], to: ids[Math.floor(rnd() * n)] });
          edges.push({ from: 'missing', to: ids[0] });
          const l = layeredLayout(ids, edges, { nodeWidth: (id) => 60 + id.length * 7 });
          if (l.nodes.size !== n) out.push(`${n}/${round}: ${l.nodes.size} nodes placed`);
          const boxes = [...l.nodes.values()];
          for (let i = 0; i < boxes.length; i++) {
            for (let j = i + 1; j < boxes.length; j++) {
              const a = boxes[i];
              const b = boxes[j];
              if (a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h) out.push(`${n}/${round}: ${a.id} overlaps ${b.id}`);
            }
          }
          for (const e of l.edges) {
            if (e.self) continue;
            const a = l.nodes.get(e.from);
            const b = l.nodes.get(e.to);
            if (!a || !b) { out.push(`${n}/${round}: edge ${e.from}->${e.to} to nowhere`); continue; }
            const forward = a.layer < b.layer;
            if (forward === e.reversed) out.push(`${n}/${round}: edge ${e.from}->${e.to} layers ${a.layer}->${b.layer} reversed=${e.reversed}`);
            if (e.points.length !== Math.abs(a.layer - b.layer) + 1) out.push(`${n}/${round}: edge ${e.from}->${e.to} has ${e.points.length} points`);
          }
          if (!(l.width > 0 && l.height > 0)) out.push(`${n}/${round}: size ${l.width}x${l.height}`);
        }
      }
      const empty = layeredLayout([], []);
      if (empty.nodes.size || empty.edges.length) out.push('empty graph is not empty');
      return out;
    });
    assert.deepEqual(problems, []);
  });

  it('parseTraceFile: every Jaeger and OTLP shape, and errors for anything else', async () => {
    const r = await page.evaluate(async () => {
      const { parseTraceFile } = await import('/static/upload/parse.js');
      const jaeger = { traceID: 'ab', spans: [{ traceID: 'ab', spanID: '1', operationName: 'x', references: [], startTime: 5, duration: 1, tags: [], logs: [], processID: 'p1' }], processes: { p1: { serviceName: 's', tags: [] } } };
      const envelope = parseTraceFile(JSON.stringify({ data: [jaeger, { ...jaeger, traceID: 'cd' }], total: 0 }));
      const bare = parseTraceFile(JSON.stringify([jaeger]));
      const single = parseTraceFile(JSON.stringify(jaeger));
      const otlp = parseTraceFile(JSON.stringify({
        resource_spans: [{
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'snake' } }, { key: 'list', value: { arrayValue: { values: [{ intValue: '1' }, { stringValue: 'b' }] } } }] },
          scope_spans: [{ scope: { name: 'lib', version: '2' }, spans: [
            { trace_id: '0000000000000000000000000000beef', span_id: '00000000000000aa', parent_span_id: '0000000000000000', name: 'root', kind: 'SPAN_KIND_SERVER', start_time_unix_nano: 1_000_000_000_000, end_time_unix_nano: 1_000_002_000_000, status: { code: 'STATUS_CODE_ERROR', message: 'boom' } },
            { traceId: 'not-an-id', spanId: '00000000000000ab', name: 'dropped' },
          ] }],
        }],
      }));
      // JSON lines, as the Collector's file exporter writes: one request per line.
      const req = (/** @type {string} */ tid, /** @type {string} */ sid) => JSON.stringify({ resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ spans: [{ traceId: tid, spanId: sid, name: 'l', startTimeUnixNano: '1000', endTimeUnixNano: '2000' }] }] }] });
      const lines = parseTraceFile(`${req('000000000000000000000000000000a1', '00000000000000b1')}\n${req('000000000000000000000000000000a1', '00000000000000b2')}\n\n${req('000000000000000000000000000000a2', '00000000000000b3')}\n`);
      /** @type {string[]} */
      const errors = [];
      for (const bad of ['', '{"hello": 1}', '[]', '{"resourceSpans": []}', 'nul']) {
        try { parseTraceFile(bad); errors.push('accepted'); } catch (e) { errors.push(e instanceof Error ? e.message.slice(0, 24) : String(e)); }
      }
      return { envelope: envelope.map((t) => t.traceID), bare: bare.length, single: single[0].spans.length, otlp, errors, lines: lines.map((t) => `${t.traceID}:${t.spans.length}:${t.processes.p1.serviceName}`) };
    });
    assert.deepEqual(r.envelope, ['ab', 'cd']);
    assert.equal(r.bare, 1);
    assert.equal(r.single, 1);
    assert.equal(r.otlp.length, 1);
    const t = r.otlp[0];
    assert.equal(t.traceID, '000000000000beef');
    assert.equal(t.spans.length, 1, 'a span with an unreadable id is left out');
    const s = t.spans[0];
    assert.deepEqual([s.spanID, s.startTime, s.duration, s.references], ['00000000000000aa', 1_000_000_000, 2_000, []]);
    const tags = Object.fromEntries(s.tags.map((/** @type {any} */ x) => [x.key, x.value]));
    assert.deepEqual(tags, { 'otel.scope.name': 'lib', 'otel.scope.version': '2', 'span.kind': 'server', 'otel.status_code': 'ERROR', error: true, 'otel.status_description': 'boom' });
    assert.deepEqual(t.processes.p1, { serviceName: 'snake', tags: [{ key: 'list', type: 'string', value: '[1,"b"]' }] });
    assert.deepEqual(r.lines, ['00000000000000a1:2:OTLPResourceNoServiceName', '00000000000000a2:1:OTLPResourceNoServiceName']);
    assert.equal(r.errors.length, 5);
    assert.ok(r.errors.every((e) => e !== 'accepted'), JSON.stringify(r.errors));
  });

  it('self time subtracts the union of children clipped to the span; compare matches by path', async () => {
    const r = await page.evaluate(async () => {
      const { normalizeTrace } = await import('/static/model.js');
      const { selfTime } = await import('/static/views/stats.js');
      const { diffTree, flattenTree } = await import('/static/compare/diff.js');
      const span = (/** @type {string} */ id, /** @type {string | null} */ parent, /** @type {number} */ start, /** @type {number} */ dur, op = 'op') => ({
        traceID: 't', spanID: id, operationName: op, processID: 'p1', startTime: start, duration: dur, tags: [], logs: [],
        references: parent ? [{ refType: 'CHILD_OF', traceID: 't', spanID: parent }] : [],
      });
      const processes = { p1: { serviceName: 'svc', tags: [] } };
      // Children 10..30 and 20..40 overlap (union 30), one runs past the end (90..150 counts 10).
      const t = normalizeTrace({ traceID: 't', processes, spans: [span('r', null, 0, 100), span('a', 'r', 10, 20), span('b', 'r', 20, 20), span('c', 'r', 90, 60)] });
      const self = selfTime(/** @type {any} */ (t.spanByID.get('r')));
      // The same operation under different parents is a different path.
      const a = normalizeTrace({ traceID: 'a', processes, spans: [span('1', null, 0, 10, 'root'), span('2', '1', 0, 5, 'x'), span('3', '2', 0, 1, 'y')] });
      const b = normalizeTrace({ traceID: 'b', processes, spans: [span('1', null, 0, 10, 'root'), span('2', '1', 0, 5, 'y')] });
      const rows = flattenTree(diffTree(a, b)).map((n) => `${'  '.repeat(n.depth)}${n.operation} ${n.countA}/${n.countB} ${n.status}`);
      return { self, rows };
    });
    assert.equal(r.self, 100 - 30 - 10);
    assert.deepEqual(r.rows, ['root 1/1 same', '  x 1/0 only-a', '    y 1/0 only-a', '  y 0/1 only-b']);
  });
});
