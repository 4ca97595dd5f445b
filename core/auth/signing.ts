/**
 * HMAC-SHA256 request signing for agent-to-agent calls.
 *
 * Upstream signed only the body, so a captured request could be replayed against another path,
 * method or time. Here the signature covers a canonical string of the agent id, method, path with its
 * query, the timestamp, the request id and the SHA-256 of the body, so changing any of them
 * breaks it; the timestamp bounds the skew window and the request id feeds the replay store.
 *
 * @example
 * ```ts
 * const headers = await signRequest("key", { agentId: "a1", method: "POST", url: "/x", body });
 * ```
 * @module
 */
import { constantTimeEqual, sha256HexOfBody } from "../crypto/mod.ts";
import { decodeBase64, decodeHex, encodeBase64 } from "../encoding/mod.ts";

/** Header carrying the caller's agent id. */
export const HEADER_AGENT_ID = "X-Agent-Id";
/** Header carrying the unix time in seconds at signing. */
export const HEADER_TIMESTAMP = "X-Timestamp";
/** Header carrying the unique request id (the replay key). */
export const HEADER_REQUEST_ID = "X-Request-Id";
/** Header carrying the base64 HMAC-SHA256 signature. */
export const HEADER_SIGNATURE = "X-Agent-Signature";
/** First line of the canonical string; versions the scheme. */
const SIGNING_SCHEME = "IATP-HMAC-SHA256-V1";

const encoder = new TextEncoder();

/** The parts of a request that the signature covers. */
export interface SignedParts {
  /** The caller's agent id (X-Agent-Id), so a signature cannot be replayed under another id. */
  agentId: string;
  method: string;
  /** Path plus query exactly as sent, e.g. `/api/v1/commands/wait/abc?timeout=30`. */
  pathAndQuery: string;
  /** Unix seconds, as the decimal string sent in X-Timestamp. */
  timestamp: string;
  requestId: string;
  body: Uint8Array;
}

/** The canonical string that is MACed: one field per line (the body by its SHA-256). */
export async function canonicalString(parts: SignedParts): Promise<string> {
  return [
    SIGNING_SCHEME,
    parts.agentId,
    parts.method.toUpperCase(),
    parts.pathAndQuery,
    parts.timestamp,
    parts.requestId,
    await sha256HexOfBody(parts.body),
  ].join("\n");
}

async function hmacKey(key: string): Promise<CryptoKey> {
  return await crypto.subtle.importKey(
    "raw",
    encoder.encode(key),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
}

/** Raw HMAC-SHA256 of the canonical string. */
async function computeSignature(key: string, parts: SignedParts): Promise<Uint8Array> {
  const mac = await crypto.subtle.sign(
    "HMAC",
    await hmacKey(key),
    encoder.encode(await canonicalString(parts)),
  );
  return new Uint8Array(mac);
}

/** Decodes a signature sent as base64 (canonical) or hex (accepted for older clients). */
export function decodeSignature(text: string): Uint8Array | undefined {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return decodeHex(t);
  if (!/^[A-Za-z0-9+/]{43}=?$/.test(t)) return undefined;
  try {
    return decodeBase64(t);
  } catch {
    return undefined;
  }
}

/** True when `signature` (base64 or hex) is the HMAC of `parts` under `key`. */
export async function verifySignature(
  key: string,
  parts: SignedParts,
  signature: string,
): Promise<boolean> {
  const given = decodeSignature(signature);
  if (!given) return false;
  return constantTimeEqual(given, await computeSignature(key, parts));
}

/** What a caller needs to sign one request. */
export interface SignOptions {
  agentId: string;
  method: string;
  /** Full URL or path+query; only path+query is signed. */
  url: string;
  body?: Uint8Array | string;
  /** Unix seconds; default now. */
  timestamp?: number;
  /** Default a random UUID. */
  requestId?: string;
}

/** Builds the four signing headers for one request. */
export async function signRequest(key: string, opts: SignOptions): Promise<Record<string, string>> {
  const u = new URL(opts.url, "http://signing.invalid");
  const body = typeof opts.body === "string"
    ? encoder.encode(opts.body)
    : opts.body ?? new Uint8Array();
  const timestamp = String(opts.timestamp ?? Math.floor(Date.now() / 1000));
  const requestId = opts.requestId ?? crypto.randomUUID();
  const mac = await computeSignature(key, {
    agentId: opts.agentId,
    method: opts.method,
    pathAndQuery: u.pathname + u.search,
    timestamp,
    requestId,
    body,
  });
  return {
    [HEADER_AGENT_ID]: opts.agentId,
    [HEADER_TIMESTAMP]: timestamp,
    [HEADER_REQUEST_ID]: requestId,
    [HEADER_SIGNATURE]: encodeBase64(mac),
  };
}
