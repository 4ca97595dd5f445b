/**
 * What the proxy records of a request it let through: the payload it keeps (the body bytes, or
 * its scrubbed text cut to `trace_payload_bytes`) and the record built from it when the record
 * is first read (the recorder then scrubs it, secret shapes in the payload included).
 * @module
 */
import type { Target } from "./target.ts";

/** A body that passed the checks: its scrubbed text and what it holds. */
export interface Parsed {
  /** The text with cards, SSNs and secret members redacted. */
  scrubbed: string;
  /** Nothing was redacted: `scrubbed` is the body as received. */
  clean: boolean;
  card: boolean;
  ssn: boolean;
}

/** What flags say about one part of the request. */
interface Found {
  card: boolean;
  ssn: boolean;
}

/** What the request record is made of. */
export interface RequestRecord {
  method: string;
  target: Target;
  /** What the forwarded headers held, and their redacted copies when any held PII. */
  headers: Found & { recorded: Record<string, string> | undefined };
  bytes: Uint8Array<ArrayBuffer>;
  body: Parsed;
  /** Payload characters kept (`trace_payload_bytes`). */
  maxChars: number;
}

const utf8 = new TextEncoder();
/** Reads what the recorder kept of a payload (it was valid UTF-8, or encoded from a string). */
const recordDecoder = new TextDecoder();

/**
 * What the request record keeps of the payload, as UTF-8: a clean body that fits is the body
 * itself (nothing copied; it is never written to), anything else its scrubbed text cut to
 * `maxChars`, copied so the record holds no more than that.
 */
function keptPayload(
  bytes: Uint8Array<ArrayBuffer>,
  body: Parsed,
  maxChars: number,
): { held: Uint8Array; truncated: boolean } {
  if (body.clean && bytes.length <= maxChars) {
    const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
    return { held: whole ? bytes : bytes.slice(), truncated: false };
  }
  const text = body.scrubbed.length > maxChars ? body.scrubbed.slice(0, maxChars) : body.scrubbed;
  return { held: utf8.encode(text), truncated: text.length < body.scrubbed.length };
}

/**
 * The request record, built when it is first read: the payload is decoded then, and the
 * recorder scrubs the whole record (secret shapes in the payload included) before anyone sees it.
 */
export function requestDetails(r: RequestRecord): () => Record<string, unknown> {
  const { bytes, body } = r;
  const { held, truncated } = keptPayload(bytes, body, r.maxChars);
  const method = r.method;
  const t = r.target; // cached per URL, never changed
  const headers = r.headers.recorded;
  // Flags as plain values: the ring holds this closure until the record is read or evicted.
  const { card: headerCard, ssn: headerSsn } = r.headers;
  const { card: bodyCard, ssn: bodySsn } = body;
  const size = bytes.length;
  return () => {
    const found = foundIn(
      { card: bodyCard, ssn: bodySsn },
      t,
      { card: headerCard, ssn: headerSsn },
    );
    return {
      method,
      path: t.path,
      ...(t.query !== "" ? { query: t.query } : {}),
      ...(headers ? { headers } : {}),
      payload: recordDecoder.decode(held),
      ...(truncated ? { payload_truncated: true } : {}),
      payload_bytes: size,
      sensitive: { credit_card: found.card, ssn: found.ssn },
      ...(found.where.length > 0 ? { found_in: found.where } : {}),
    };
  };
}

/** Whether cards or SSNs were found, and where, for the record. */
function foundIn(
  body: { card: boolean; ssn: boolean },
  t: { card: boolean; ssn: boolean },
  f: { card: boolean; ssn: boolean },
): { card: boolean; ssn: boolean; where: string[] } {
  const where: string[] = [];
  if (body.card || body.ssn) where.push("body");
  if (t.card || t.ssn) where.push("url");
  if (f.card || f.ssn) where.push("headers");
  return { card: body.card || t.card || f.card, ssn: body.ssn || t.ssn || f.ssn, where };
}
