/**
 * Body-only HMAC signatures as the TryDirect status agent and its dashboards make them: base64
 * of HMAC-SHA256 over the raw body bytes, keyed with the agent token. Such a signature does not
 * cover the method, path, time or request id, so it can be replayed against any other route
 * while the replay window lasts; iatp offers it only as a compatibility mode (`signing:
 * upstream|both`) and warns at every start.
 *
 * @example
 * ```ts
 * const sig = await bodySignature("secret", "hello");
 * // sig === "iKqz7ejTrflNJquQ07r9SiCDBww7zOnAFO4EpEOEfAs="
 * ```
 * @module
 */
import { constantTimeEqual } from "../crypto/mod.ts";
import { decodeBase64, decodeHex, encodeBase64 } from "../encoding/mod.ts";
import {
  HEADER_AGENT_ID,
  HEADER_REQUEST_ID,
  HEADER_SIGNATURE,
  HEADER_TIMESTAMP,
} from "./signing.ts";

const encoder = new TextEncoder();

function bytesOf(body: Uint8Array | string | undefined): Uint8Array {
  return typeof body === "string" ? encoder.encode(body) : body ?? new Uint8Array();
}

/** Raw HMAC-SHA256 of `body` under `key`. */
async function bodyMac(key: string, body: Uint8Array | string | undefined) {
  const k = await crypto.subtle.importKey(
    "raw",
    encoder.encode(key),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign("HMAC", k, bytesOf(body) as Uint8Array<ArrayBuffer>);
  return new Uint8Array(mac);
}

/**
 * The base64 (standard alphabet, padded) body-only signature.
 * @example
 * ```ts
 * await bodySignature("key", ""); // "XV0TlWPJW1lnub2ajJsjOp3ttFByeUzSMtwbdIMmB9A="
 * ```
 */
export async function bodySignature(
  key: string,
  body: Uint8Array | string | undefined,
): Promise<string> {
  return encodeBase64(await bodyMac(key, body));
}

/**
 * Decodes a signature header the way upstream does: standard padded base64 first, then hex of
 * any even length (either case). A 64-digit hex MAC also happens to be valid base64 (48 bytes);
 * upstream then reports a mismatch, iatp falls back to hex, which accepts strictly more.
 * Undefined when neither decoding applies ("invalid signature encoding").
 * @example
 * ```ts
 * decodeBodySignature("68656c6c6f"); // bytes of "hello"
 * ```
 */
export function decodeBodySignature(text: string): Uint8Array | undefined {
  const t = text.trim();
  const hex = /^(?:[0-9a-fA-F]{2})+$/.test(t) ? decodeHex(t) : undefined;
  if (t.length > 0 && t.length % 4 === 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(t)) {
    try {
      const raw = decodeBase64(t);
      if (raw.length === 32 || !hex || hex.length !== 32) return raw;
    } catch { /* not base64 after all */ }
  }
  return hex;
}

/** Why a body-only signature was refused, in upstream's words. */
export type BodySignatureFailure =
  | "missing X-Timestamp"
  | "invalid X-Timestamp"
  | "stale request (timestamp skew)"
  | "missing X-Agent-Signature"
  | "invalid signature encoding"
  | "signature mismatch";

/** What {@linkcode checkBodySignature} looks at. */
export interface BodySignatureInput {
  timestamp: string | undefined;
  signature: string | undefined;
  body: Uint8Array;
  maxSkewSecs: number;
  nowMs: number;
}

/**
 * Checks timestamp, skew and the body-only signature in upstream's order; undefined when valid.
 * @example
 * ```ts
 * await checkBodySignature("k", { timestamp: "1", signature: "x", body, maxSkewSecs: 300, nowMs: Date.now() });
 * ```
 */
export async function checkBodySignature(
  key: string,
  input: BodySignatureInput,
): Promise<BodySignatureFailure | undefined> {
  if (input.timestamp === undefined) return "missing X-Timestamp";
  if (!/^-?\d{1,19}$/.test(input.timestamp.trim())) return "invalid X-Timestamp";
  if (Math.abs(input.nowMs / 1000 - Number(input.timestamp.trim())) > input.maxSkewSecs) {
    return "stale request (timestamp skew)";
  }
  if (input.signature === undefined) return "missing X-Agent-Signature";
  const given = decodeBodySignature(input.signature);
  if (!given) return "invalid signature encoding";
  if (key === "" || !constantTimeEqual(given, await bodyMac(key, input.body))) {
    return "signature mismatch";
  }
  return undefined;
}

/** What a caller needs to sign one request body-only. */
export interface BodySignOptions {
  agentId: string;
  body?: Uint8Array | string;
  /** Unix seconds; default now. */
  timestamp?: number;
  /** Default a random UUID. */
  requestId?: string;
}

/**
 * The four headers upstream's agent sends, with the body-only signature.
 * @example
 * ```ts
 * const h = await signBodyRequest("token-abc", { agentId: "a1", body: "{}" });
 * ```
 */
export async function signBodyRequest(
  key: string,
  opts: BodySignOptions,
): Promise<Record<string, string>> {
  return {
    [HEADER_AGENT_ID]: opts.agentId,
    [HEADER_TIMESTAMP]: String(opts.timestamp ?? Math.floor(Date.now() / 1000)),
    [HEADER_REQUEST_ID]: opts.requestId ?? crypto.randomUUID(),
    [HEADER_SIGNATURE]: await bodySignature(key, opts.body),
  };
}
