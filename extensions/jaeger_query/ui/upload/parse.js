// @ts-check
/**
 * Reads a trace file someone saved: Jaeger's JSON (what `/api/traces` returns, a bare array of
 * traces, or one trace) or OTLP JSON (`{resourceSpans: [...]}`, as an SDK writes it, or one
 * such object per line, as the Collector's file exporter writes it). OTLP is converted here, in the browser, to Jaeger's UI JSON by the
 * same rules the server's translator follows (the Collector's `traces_to_jaegerproto.go`), so
 * an uploaded trace looks exactly as it would had it been stored and fetched: the resource
 * becomes the process (p1, p2, ...), attributes keep their types, `span.kind`,
 * `otel.status_code`, `error=true` and `otel.status_description` are added as tags, the parent
 * becomes the first CHILD_OF reference, links become FOLLOWS_FROM references, events become logs.
 * Nothing is sent to the server.
 */

/** @param {unknown} v @returns {v is Record<string, any>} */
const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * @param {string} text the file's contents
 * @returns {any[]} Jaeger traces (`{traceID, spans, processes, warnings}`), at least one
 * @throws {Error} saying what the file is missing when it is neither format
 */
export function parseTraceFile(text) {
  /** @type {any} */
  let doc;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    // The Collector's file exporter writes one OTLP request per line (JSON lines).
    const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
    try {
      if (lines.length < 2) throw e;
      doc = lines.map((l) => JSON.parse(l));
    } catch {
      throw new Error(`The file is not JSON: ${e instanceof Error ? e.message : e}`);
    }
  }
  /** @type {any[]} */
  let traces;
  if (isObject(doc) && (Array.isArray(doc.resourceSpans) || Array.isArray(doc.resource_spans))) {
    traces = otlpToJaeger(doc);
  } else if (Array.isArray(doc) && doc.length && doc.every((d) => isObject(d) && Array.isArray(d.resourceSpans))) {
    // A file exporter's lines read as one array: several OTLP requests.
    traces = otlpToJaeger({ resourceSpans: doc.flatMap((d) => d.resourceSpans) });
  } else {
    const list = isObject(doc) && Array.isArray(doc.data) ? doc.data : Array.isArray(doc) ? doc : [doc];
    traces = list.filter((t) => isObject(t) && Array.isArray(t.spans)).map(checkJaeger);
  }
  traces = traces.filter((t) => t.spans.length);
  if (!traces.length) {
    throw new Error('No trace found: expected Jaeger JSON ({"data": [{"traceID", "spans", "processes"}]}, as /api/traces returns it) or OTLP JSON ({"resourceSpans": [...]}).');
  }
  return traces;
}

/**
 * A Jaeger trace as it came, with the fields every view relies on made present.
 * @param {Record<string, any>} t
 */
function checkJaeger(t) {
  const spans = t.spans.filter((/** @type {any} */ s) => isObject(s) && s.spanID);
  const traceID = String(t.traceID ?? spans[0]?.traceID ?? '');
  return { ...t, traceID, spans, processes: isObject(t.processes) ? t.processes : {}, warnings: t.warnings ?? null };
}

/**
 * OTLP ids come as hex (the OTLP/JSON spec) or base64 (protobuf's generic JSON mapping, which
 * some exporters write): 32/16 hex digits, or 24/12 base64 characters.
 * @param {unknown} raw
 * @param {number} bytes 16 for a trace id, 8 for a span id
 * @returns {string} lower-case hex, '' when absent or unreadable
 */
export function otlpId(raw, bytes) {
  if (typeof raw !== 'string' || !raw) return '';
  let hex = '';
  if (raw.length === bytes * 2 && /^[0-9a-fA-F]+$/.test(raw)) {
    hex = raw.toLowerCase();
  } else {
    try {
      const bin = atob(raw.replace(/-/g, '+').replace(/_/g, '/'));
      if (bin.length !== bytes) return '';
      hex = [...bin].map((c) => c.charCodeAt(0).toString(16).padStart(2, '0')).join('');
    } catch {
      return '';
    }
  }
  // All zeros is OTLP's "no id" (a root's parent).
  return /^0+$/.test(hex) ? '' : hex;
}

/**
 * Jaeger's trace id text: 16 hex digits when the high half is zero, else 32.
 * @param {string} hex32
 */
function jaegerTraceID(hex32) {
  return hex32.startsWith('0000000000000000') ? hex32.slice(16) : hex32;
}

/**
 * Nanoseconds (string or number) to microseconds, exactly for strings (BigInt).
 * @param {unknown} ns
 */
function nanosToMicros(ns) {
  if (typeof ns === 'number') return Math.floor(ns / 1000);
  if (typeof ns === 'string' && /^\d+$/.test(ns)) return Number(BigInt(ns) / 1000n);
  return 0;
}

/**
 * An OTLP AnyValue as Jaeger types it; arrays and maps become JSON text as the server's do.
 * @param {string} key
 * @param {any} v
 */
function tag(key, v) {
  if (!isObject(v)) return { key, type: 'string', value: '' };
  if ('stringValue' in v) return { key, type: 'string', value: String(v.stringValue) };
  if ('boolValue' in v) return { key, type: 'bool', value: v.boolValue === true || v.boolValue === 'true' };
  if ('intValue' in v) return { key, type: 'int64', value: Number(v.intValue) };
  if ('doubleValue' in v) return { key, type: 'float64', value: Number(v.doubleValue) };
  if ('bytesValue' in v) return { key, type: 'binary', value: String(v.bytesValue) };
  return { key, type: 'string', value: JSON.stringify(plain(v)) };
}

/** An AnyValue as plain JSON (for arrays and maps). @param {any} v @returns {any} */
function plain(v) {
  if (!isObject(v)) return null;
  if ('stringValue' in v) return v.stringValue;
  if ('boolValue' in v) return v.boolValue;
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return v.doubleValue;
  if ('bytesValue' in v) return v.bytesValue;
  if (isObject(v.arrayValue)) return (v.arrayValue.values || []).map(plain);
  if (isObject(v.kvlistValue)) {
    /** @type {Record<string, any>} */
    const out = {};
    for (const kv of v.kvlistValue.values || []) out[kv.key] = plain(kv.value);
    return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
  }
  return null;
}

/** @param {any} attrs */
const tags = (attrs) => (Array.isArray(attrs) ? attrs : []).filter(isObject).map((a) => tag(String(a.key ?? ''), a.value));

/** OTLP's SpanKind numbers (or names, in protobuf's generic JSON) to Jaeger's `span.kind`. */
const KINDS = { 1: 'internal', 2: 'server', 3: 'client', 4: 'producer', 5: 'consumer' };
/** @param {unknown} kind */
function spanKind(kind) {
  if (typeof kind === 'number') return /** @type {Record<number, string>} */ (KINDS)[kind];
  if (typeof kind === 'string') {
    const m = /^SPAN_KIND_(INTERNAL|SERVER|CLIENT|PRODUCER|CONSUMER)$/.exec(kind);
    return m ? m[1].toLowerCase() : undefined;
  }
  return undefined;
}

/** @param {unknown} code 2/STATUS_CODE_ERROR, 1/STATUS_CODE_OK */
function statusCode(code) {
  if (code === 2 || code === 'STATUS_CODE_ERROR') return 'ERROR';
  if (code === 1 || code === 'STATUS_CODE_OK') return 'OK';
  return '';
}

/**
 * @param {Record<string, any>} doc `{resourceSpans: [...]}`
 * @returns {any[]} Jaeger traces, in the order their first span appears
 */
export function otlpToJaeger(doc) {
  /** @type {Map<string, {traceID: string, spans: any[], processes: Record<string, any>, warnings: null, procIndex: Map<any, string>}>} */
  const byTrace = new Map();
  for (const rs of doc.resourceSpans || doc.resource_spans || []) {
    if (!isObject(rs)) continue;
    const attrs = Array.isArray(rs.resource?.attributes) ? rs.resource.attributes : [];
    const nameAttr = attrs.find((/** @type {any} */ a) => a?.key === 'service.name');
    const process = {
      serviceName: nameAttr ? String(plain(nameAttr.value) ?? '') : attrs.length ? 'unknown_service' : 'OTLPResourceNoServiceName',
      tags: tags(attrs.filter((/** @type {any} */ a) => a?.key !== 'service.name')),
    };
    for (const ss of rs.scopeSpans || rs.scope_spans || rs.instrumentationLibrarySpans || []) {
      if (!isObject(ss)) continue;
      const scope = ss.scope || ss.instrumentationLibrary || {};
      for (const s of Array.isArray(ss.spans) ? ss.spans : []) {
        if (!isObject(s)) continue;
        const hex = otlpId(s.traceId ?? s.trace_id, 16);
        const spanID = otlpId(s.spanId ?? s.span_id, 8);
        if (!hex || !spanID) continue;
        const traceID = jaegerTraceID(hex);
        let t = byTrace.get(traceID);
        if (!t) {
          t = { traceID, spans: [], processes: {}, warnings: null, procIndex: new Map() };
          byTrace.set(traceID, t);
        }
        // One process per resource, numbered in the order the trace meets them.
        let processID = t.procIndex.get(rs);
        if (!processID) {
          processID = `p${t.procIndex.size + 1}`;
          t.procIndex.set(rs, processID);
          t.processes[processID] = process;
        }
        t.spans.push(span(s, traceID, spanID, processID, scope));
      }
    }
  }
  return [...byTrace.values()].map(({ procIndex, ...t }) => (void procIndex, t));
}

/**
 * @param {Record<string, any>} s an OTLP span
 * @param {string} traceID
 * @param {string} spanID
 * @param {string} processID
 * @param {Record<string, any>} scope
 */
function span(s, traceID, spanID, processID, scope) {
  const start = nanosToMicros(s.startTimeUnixNano ?? s.start_time_unix_nano);
  const end = nanosToMicros(s.endTimeUnixNano ?? s.end_time_unix_nano);
  const t = [];
  if (scope?.name) t.push({ key: 'otel.scope.name', type: 'string', value: String(scope.name) });
  if (scope?.version) t.push({ key: 'otel.scope.version', type: 'string', value: String(scope.version) });
  t.push(...tags(s.attributes));
  const kind = spanKind(s.kind);
  if (kind) t.push({ key: 'span.kind', type: 'string', value: kind });
  const code = statusCode(s.status?.code);
  if (code) t.push({ key: 'otel.status_code', type: 'string', value: code });
  if (code === 'ERROR') t.push({ key: 'error', type: 'bool', value: true });
  if (s.status?.message) t.push({ key: 'otel.status_description', type: 'string', value: String(s.status.message) });
  if (s.traceState) t.push({ key: 'w3c.tracestate', type: 'string', value: String(s.traceState) });

  const references = [];
  const parent = otlpId(s.parentSpanId ?? s.parent_span_id, 8);
  if (parent) references.push({ refType: 'CHILD_OF', traceID, spanID: parent });
  for (const l of Array.isArray(s.links) ? s.links : []) {
    const lt = otlpId(l?.traceId, 16);
    const ls = otlpId(l?.spanId, 8);
    if (lt && ls) references.push({ refType: 'FOLLOWS_FROM', traceID: jaegerTraceID(lt), spanID: ls });
  }
  const logs = (Array.isArray(s.events) ? s.events : []).filter(isObject).map((e) => {
    const fields = tags(e.attributes);
    if (e.name && !fields.some((f) => f.key === 'event')) fields.unshift({ key: 'event', type: 'string', value: String(e.name) });
    return { timestamp: nanosToMicros(e.timeUnixNano ?? e.time_unix_nano), fields };
  });
  return {
    traceID, spanID, operationName: String(s.name ?? ''), references,
    startTime: start, duration: Math.max(0, end - start), tags: t, logs, processID, warnings: null,
    flags: Number(s.flags ?? 0) & 1,
  };
}
