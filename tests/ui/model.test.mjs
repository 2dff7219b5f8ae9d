// @ts-check
// The UI's pure logic, run in node without a browser: the trace model (tree, depths, orphans,
// cycles, duplicates), the critical path, result summaries, and the search page's logfmt tags
// and API parameters.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { criticalPath, normalizeTrace, summarizeTrace } from '../../extensions/jaeger_query/ui/model.js';
import { apiParams, parseLogfmt, toLogfmt } from '../../extensions/jaeger_query/ui/pages/search.js';

/** @param {string} id @param {number} start @param {number} duration @param {string} [parent] @param {object} [extra] */
const span = (id, start, duration, parent, extra = {}) => ({
  traceID: 't', spanID: id, operationName: `op-${id}`, startTime: start, duration, processID: 'p1',
  references: parent ? [{ refType: 'CHILD_OF', traceID: 't', spanID: parent }] : [], tags: [], logs: [], ...extra,
});
const trace = (/** @type {any[]} */ spans) => ({ traceID: 't', spans, processes: { p1: { serviceName: 'svc', tags: [] }, p2: { serviceName: 'db', tags: [] } } });

describe('normalizeTrace', () => {
  test('builds the tree in depth-first order with depths, relative times and counts', () => {
    const t = normalizeTrace(trace([
      span('c', 1030, 10, 'a', { processID: 'p2', tags: [{ key: 'error', type: 'bool', value: true }] }),
      span('a', 1000, 100),
      span('b', 1010, 10, 'a'),
      span('d', 1012, 5, 'b', { tags: [{ key: 'otel.status_code', value: 'ERROR' }, { key: 'span.kind', value: 'client' }] }),
    ]));
    assert.deepEqual(t.spans.map((s) => [s.spanID, s.depth, s.relativeStart]), [['a', 0, 0], ['b', 1, 10], ['d', 2, 12], ['c', 1, 30]]);
    assert.deepEqual([t.startTime, t.endTime, t.duration, t.depth, t.errorCount], [1000, 1100, 100, 3, 2]);
    assert.deepEqual(t.services, ['db', 'svc']);
    assert.equal(t.spanByID.get('d')?.kind, 'client');
    assert.equal(t.spanByID.get('c')?.serviceName, 'db');
    assert.equal(t.roots[0].parentSpanID, null);
  });

  test('a missing parent, a cycle and a duplicate become warnings, not exceptions', () => {
    const t = normalizeTrace(trace([
      span('a', 0, 10), span('orphan', 1, 1, 'gone'), span('x', 2, 1, 'y'), span('y', 3, 1, 'x'), span('a', 5, 5),
    ]));
    assert.equal(t.spans.length, 4);
    assert.match(t.spanByID.get('orphan')?.warnings[0] || '', /parent span gone is not in this trace/);
    assert.equal(t.roots.length, 3, 'a, orphan, and the cycle broken at one span');
    assert.ok(t.warnings.some((w) => /appears more than once/.test(w)));
    assert.deepEqual(normalizeTrace({}).spans, []);
  });

  test('a 10,000-span chain does not overflow the stack', () => {
    const spans = [span('0', 0, 10000)];
    for (let i = 1; i < 10000; i++) spans.push(span(String(i), i, 10000 - i, String(i - 1)));
    const t = normalizeTrace(trace(spans));
    assert.equal(t.depth, 10000);
    assert.equal(criticalPath(t).size, 10000);
  });
});

describe('criticalPath', () => {
  test('follows the last-finishing child back in time and skips work nobody waited for', () => {
    // a: 0..100. b: 10..40, c: 50..90 (c finished last, then b before it). e: 20..30 inside b
    // while f: 12..38 is b's last-finishing child, so e overlaps f and is not on the path.
    const t = normalizeTrace(trace([
      span('a', 0, 100), span('b', 10, 30, 'a'), span('c', 50, 40, 'a'), span('f', 12, 26, 'b'), span('e', 20, 10, 'b'),
      span('late', 95, 20, 'a'),
    ]));
    const path = criticalPath(t);
    assert.deepEqual([...path].sort(), ['a', 'b', 'c', 'f', 'late']);
  });
});

describe('summarizeTrace', () => {
  test('root, counts per service, errors and duration', () => {
    const s = summarizeTrace(trace([
      span('b', 1010, 10, 'a', { processID: 'p2', tags: [{ key: 'error', value: 'true' }] }), span('a', 1000, 50), span('c', 1020, 40, 'a', { processID: 'p2' }),
    ]));
    assert.deepEqual(s, {
      traceID: 't', rootService: 'svc', rootOperation: 'op-a', spanCount: 3, errorCount: 1,
      services: [{ name: 'db', count: 2 }, { name: 'svc', count: 1 }], startTime: 1000, duration: 60, hasMissingRoot: false,
    });
  });
});

describe('search parameters', () => {
  test('logfmt tags parse (quoted values too), print back, and refuse a bare word', () => {
    assert.deepEqual(parseLogfmt('error=true http.status_code=500 msg="a \\"b\\" c" empty='), { error: 'true', 'http.status_code': '500', msg: 'a "b" c', empty: '' });
    assert.equal(toLogfmt({ error: 'true', msg: 'a b' }), 'error=true msg="a b"');
    assert.throws(() => parseLogfmt('error=true oops'), /"oops" is not key=value/);
  });

  test('page URL parameters become Jaeger API parameters', () => {
    const q = apiParams(new URLSearchParams('service=s&operation=o&tags=%7B%22a%22%3A%22b%22%7D&lookback=2h&minDuration=5ms&limit=50'));
    assert.equal(q.get('service'), 's');
    assert.equal(q.get('operation'), 'o');
    assert.equal(q.get('tags'), '{"a":"b"}');
    assert.equal(q.get('minDuration'), '5ms');
    assert.equal(q.get('limit'), '50');
    assert.equal(Number(q.get('end')) - Number(q.get('start')), 2 * 3600 * 1e6);
    const custom = apiParams(new URLSearchParams('service=s&lookback=custom&start=10&end=20&tags=a%3D1'));
    assert.deepEqual([custom.get('start'), custom.get('end'), custom.get('tags'), custom.get('limit')], ['10', '20', '{"a":"1"}', '20']);
    assert.deepEqual(apiParams(new URLSearchParams('traceID=a&traceID=b')).getAll('traceID'), ['a', 'b']);
  });
});
