/**
 * What the proxy records of a request it let through and of the agent's answer, packed into the
 * recorder's arrays and payload arena (the body bytes, or its scrubbed text cut to
 * `trace_payload_bytes` characters), and the records built from them when first read (the
 * recorder then scrubs them, secret shapes in the payload included).
 * @module
 */
import { PackedDetails, type PackedFields } from "../recorder/mod.ts";
import type { Target } from "./target.ts";

/** A body that passed the checks: its scrubbed text and what it holds. */
export interface Parsed {
  /**
   * The text with cards, SSNs and secret members redacted; undefined when nothing was (the
   * body's bytes are then its text).
   */
  scrubbed: string | undefined;
  /** Nothing was redacted: the body as received is its scrubbed text. */
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

/** Reads what the recorder kept of a payload (it was valid UTF-8, or encoded from a string). */
const recordDecoder = new TextDecoder();

/** Flag bits of a packed request record. */
const BODY_CARD = 1;
const BODY_SSN = 2;
const HEADER_CARD = 4;
const HEADER_SSN = 8;
const TRUNCATED = 16;

/** The method every `/proxy` request has: any other is kept in a {@linkcode RareRequest}. */
const POST = "POST";

/**
 * Payload bytes the recorder keeps per record for `maxChars` payload characters: UTF-8 needs at
 * most 3 bytes per UTF-16 unit (a clean body kept as received has at most `maxChars` bytes).
 *
 * @example
 * ```ts
 * payloadBytesFor(4096); // 12288
 * ```
 */
export function payloadBytesFor(maxChars: number): number {
  return 3 * maxChars;
}

/** What a request record refers to when it is not just the (cached) target. */
class RareRequest {
  constructor(
    readonly target: Target,
    readonly method: string,
    readonly headers: Record<string, string> | undefined,
  ) {}
}

/**
 * The request record's details, packed: the ring keeps the flags, the body size and the payload
 * (a clean body that fits as received, anything else its scrubbed text cut to `maxChars`) in its
 * own arrays and arena, and builds and scrubs the record (secret shapes in the payload included)
 * when it is first read.
 */
export function requestDetails(r: RequestRecord): PackedDetails {
  const { bytes, body, maxChars } = r;
  const f = r.headers;
  let flags = (body.card ? BODY_CARD : 0) | (body.ssn ? BODY_SSN : 0) |
    (f.card ? HEADER_CARD : 0) | (f.ssn ? HEADER_SSN : 0);
  let payload: Uint8Array | string = bytes;
  if (!body.clean || bytes.length > maxChars) {
    const text = body.scrubbed ?? recordDecoder.decode(bytes);
    payload = text.length > maxChars ? text.slice(0, maxChars) : text;
    if (payload.length < text.length) flags |= TRUNCATED;
  }
  // The target is cached per URL (never changed): the record refers to it, and only a request
  // with recorded headers or another method has an object of its own.
  const ref = f.recorded === undefined && r.method === POST
    ? r.target
    : new RareRequest(r.target, r.method, f.recorded);
  return new PackedDetails(buildRequest, ref, bytes.length, 0, flags, payload);
}

/** The request record's details from what the ring kept. */
function buildRequest(p: PackedFields): Record<string, unknown> {
  const rare = p.ref instanceof RareRequest ? p.ref : undefined;
  const t = rare?.target ?? p.ref as Target;
  const headers = rare?.headers;
  const found = foundIn(
    { card: (p.flags & BODY_CARD) !== 0, ssn: (p.flags & BODY_SSN) !== 0 },
    t,
    { card: (p.flags & HEADER_CARD) !== 0, ssn: (p.flags & HEADER_SSN) !== 0 },
  );
  return {
    method: rare?.method ?? POST,
    path: t.path,
    ...(t.query !== "" ? { query: t.query } : {}),
    ...(headers ? { headers } : {}),
    payload: recordDecoder.decode(p.payload),
    ...((p.flags & TRUNCATED) !== 0 ? { payload_truncated: true } : {}),
    payload_bytes: p.a,
    sensitive: { credit_card: found.card, ssn: found.ssn },
    ...(found.where.length > 0 ? { found_in: found.where } : {}),
  };
}

/** The response record's details, packed (the content type is the upstream client's memo). */
export function responseDetails(
  status: number,
  latencyMs: number,
  contentType: string | null,
): PackedDetails {
  return new PackedDetails(buildResponse, contentType, status, latencyMs, 0);
}

/** The response record's details from what the ring kept. */
function buildResponse(p: PackedFields): Record<string, unknown> {
  const type = typeof p.ref === "string" && p.ref !== "" ? p.ref : undefined;
  return {
    status: p.a,
    status_code: p.a,
    latency_ms: p.b,
    ...(type ? { content_type: type } : {}),
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
