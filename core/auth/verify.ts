/**
 * Hono middleware that authenticates signed agent requests, in this order: a request path sent
 * in its normal form (400 `path_not_normal` for dot segments, `%2e` ones included, or anything
 * else the URL parser rewrites: the signature covers the rewritten path, so it must be the one
 * sent), required headers, timestamp inside the skew window, known agent id, HMAC signature over method + path + query +
 * timestamp + request id + body digest (401 on any of these), replay store (409), then the
 * per-agent rate limit (429). Scopes are checked by the route ({@linkcode requireScope}, 403)
 * because the scope depends on the command in the body.
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import { HttpError } from "../errors/mod.ts";
import { type AppEnv, EdgeRequest, targetPathOf } from "../http/mod.ts";
import type { Logger } from "../log/mod.ts";
import type { RateLimiter } from "./rate_limit.ts";
import type { ReplayStore, ReplayVerdict } from "./replay.ts";
import type { Scopes } from "./scopes.ts";
import type { SigningMode } from "./agent/mod.ts";
import { checkBodySignature } from "./body_signing.ts";
import {
  HEADER_AGENT_ID,
  HEADER_REQUEST_ID,
  HEADER_SIGNATURE,
  HEADER_TIMESTAMP,
  verifySignature,
} from "./signing.ts";
import type { TokenSource } from "./agent/mod.ts";

/** Default allowed clock skew (SIGNATURE_MAX_SKEW_SECS upstream: 300). */
const DEFAULT_MAX_SKEW_SECS = 300;
/** Request ids must look like this (they become replay-store keys). */
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{8,128}$/;
/** Agent ids must look like this. */
const AGENT_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/** Who a verified request came from. */
export interface Caller {
  agentId: string;
  requestId: string;
  scopes: Scopes;
  /** How the request was verified (error texts follow the peer's dialect). */
  mode: SigningMode;
}

/** Options for {@linkcode signedAuth}. */
export interface SignedAuthOptions {
  /** The key signatures are checked against. */
  token: TokenSource;
  /** Agent ids allowed to call; empty means any id holding the key (iatp mode). */
  allowedAgents: string[];
  /**
   * `iatp` (default): the canonical-string signature. `upstream`: body-only signatures, checks
   * in upstream's order with its status codes and texts. `both`: either signature.
   */
  mode?: SigningMode;
  /** This agent's own id (AGENT_ID): in upstream and both modes, callers must send it. */
  selfAgentId?: string;
  /** Scopes granted to an authenticated caller. */
  scopes: Scopes;
  replay: ReplayStore;
  limiter: RateLimiter;
  maxSkewSecs?: number;
  log?: Logger;
  /** Counts each rejection by reason (metrics). */
  onReject?: (reason: string) => void;
  now?: () => number;
}

const callers = new WeakMap<Request, Caller>();

/**
 * Refuses a request whose path, as sent, is not the path of its URL: the URL parser removes dot
 * segments (`/a/%2e%2e/b` is `/b`) and escapes some characters, and both the route and the
 * canonical string go by the URL. Sent as it is signed and routed, a signature covers exactly
 * the request-target on the wire (and what a proxy in front matched on).
 * @throws {HttpError} 400 `path_not_normal`
 */
function requireNormalPath(
  c: Context<AppEnv>,
  reject: (status: number, reason: string, message: string) => never,
): void {
  const req = c.req.raw;
  const sent = targetPathOf(req instanceof EdgeRequest ? req.target : req.url);
  if (sent !== new URL(c.req.url).pathname) {
    reject(
      400,
      "path_not_normal",
      "request path has dot segments or characters the URL parser rewrites; send its normal form",
    );
  }
}

/**
 * The verified caller of a request that passed {@linkcode signedAuth}.
 * @throws {HttpError} 401 when the request did not pass it
 */
export function callerOf(c: Context<AppEnv>): Caller {
  const caller = callers.get(c.req.raw);
  if (!caller) throw new HttpError(401, "request is not authenticated");
  return caller;
}

/**
 * The verified caller, when it holds `scope` (or one of `scope`).
 * @throws {HttpError} 403 unless it does; 401 when the request was not authenticated
 */
export function requireScope(c: Context<AppEnv>, scope: string | string[]): Caller {
  const caller = callerOf(c);
  const any = Array.isArray(scope) ? scope : [scope];
  if (!any.some((s) => caller.scopes.allows(s))) {
    const message = caller.mode === "iatp" ? `missing scope ${any[0]}` : "insufficient scope";
    throw new HttpError(403, message, { scope: any[0] });
  }
  return caller;
}

/**
 * The authentication middleware; see the module doc for the order of checks.
 * @throws {RangeError} when the replay window is shorter than twice the skew: a request is
 * acceptable for 2 x skew, so a shorter window would forget its id while it can still be replayed.
 */
export function signedAuth(opts: SignedAuthOptions): MiddlewareHandler<AppEnv> {
  const skew = opts.maxSkewSecs ?? DEFAULT_MAX_SKEW_SECS;
  if (opts.replay.ttlMs < 2 * skew * 1000) {
    throw new RangeError(
      `replay window ${opts.replay.ttlMs} ms is shorter than twice the skew (2 x ${skew} s)`,
    );
  }
  const now = opts.now ?? Date.now;
  if ((opts.mode ?? "iatp") !== "iatp") return upstreamAuth(opts, skew, now);
  const reject = (
    status: number,
    reason: string,
    message: string,
    extra: Record<string, unknown> = {},
  ): never => {
    opts.onReject?.(reason);
    opts.log?.debug("signed request rejected", { reason });
    throw new HttpError(status, message, { reason, ...extra });
  };
  return async (c, next) => {
    requireNormalPath(c, reject);
    const agentId = c.req.header(HEADER_AGENT_ID);
    const ts = c.req.header(HEADER_TIMESTAMP);
    const requestId = c.req.header(HEADER_REQUEST_ID);
    const signature = c.req.header(HEADER_SIGNATURE);
    if (!agentId || !ts || !requestId || !signature) {
      reject(
        401,
        "unsigned",
        `missing one of ${HEADER_AGENT_ID}, ${HEADER_TIMESTAMP}, ` +
          `${HEADER_REQUEST_ID}, ${HEADER_SIGNATURE}`,
      );
    }
    if (!AGENT_ID_PATTERN.test(agentId!) || !REQUEST_ID_PATTERN.test(requestId!)) {
      reject(401, "bad_header", "malformed agent id or request id");
    }
    if (!/^\d{1,12}$/.test(ts!) || Math.abs(now() / 1000 - Number(ts)) > skew) {
      reject(401, "skew", `timestamp outside the allowed skew of ${skew} s`);
    }
    if (opts.allowedAgents.length > 0 && !opts.allowedAgents.includes(agentId!)) {
      reject(401, "unknown_agent", "unknown agent id");
    }
    const body = new Uint8Array(await c.req.arrayBuffer());
    const url = new URL(c.req.url);
    const parts = {
      agentId: agentId!,
      method: c.req.method,
      pathAndQuery: url.pathname + url.search,
      timestamp: ts!,
      requestId: requestId!,
      body,
    };
    let ok = opts.token.current() !== "" &&
      await verifySignature(opts.token.current(), parts, signature!);
    // A rotated key: re-read it once (debounced inside the source) before refusing.
    if (!ok && await opts.token.refresh("signature mismatch")) {
      ok = await verifySignature(opts.token.current(), parts, signature!);
    }
    if (!ok) reject(401, "bad_signature", "bad signature");
    const verdict = rememberRequest(opts, c, reject, agentId!, requestId!);
    if (verdict === "replay") reject(409, "replay", "request id already used (replay)");
    if (verdict === "full") reject(503, "replay_full", "replay window full; retry later");
    const rate = opts.limiter.take(agentId!);
    if (!rate.allowed) {
      c.header("Retry-After", String(rate.retryAfterSecs));
      reject(429, "rate_limited", "rate limit exceeded", {
        retry_after_secs: rate.retryAfterSecs,
      });
    }
    callers.set(c.req.raw, {
      agentId: agentId!,
      requestId: requestId!,
      scopes: opts.scopes,
      mode: "iatp",
    });
    await next();
  };
}

/** Seconds a caller is told to wait when the replay store cannot record a request id. */
const REPLAY_UNAVAILABLE_RETRY_SECS = 5;

/**
 * Records the request id in the replay store. A store that cannot write (a full or read-only
 * disk, a locked file) refuses the request with 503 and a retry hint: a command is never run
 * without its id recorded, and the failure is the store's, not the caller's.
 */
function rememberRequest(
  opts: SignedAuthOptions,
  c: Context<AppEnv>,
  reject: (status: number, reason: string, message: string) => never,
  agentId: string,
  requestId: string,
): ReplayVerdict {
  try {
    return opts.replay.remember(agentId, requestId);
  } catch (err) {
    opts.log?.error("replay store cannot record request ids", { err: String(err) });
    c.header("Retry-After", String(REPLAY_UNAVAILABLE_RETRY_SECS));
    return reject(503, "replay_unavailable", "replay store unavailable; retry later");
  }
}

/** Longest X-Request-Id accepted in upstream mode (upstream takes any; it is a store key). */
const MAX_UPSTREAM_REQUEST_ID = 256;

/**
 * Upstream's `verify_stacker_post`, in its order and words: agent id (401), rate limit (429),
 * signature (401 "invalid signature: <why>"), request id (400 when missing) and replay (409).
 * In `both` mode an iatp canonical signature is accepted too. Bodies keep iatp's `reason`.
 */
function upstreamAuth(
  opts: SignedAuthOptions,
  skew: number,
  now: () => number,
): MiddlewareHandler<AppEnv> {
  const reject = (status: number, reason: string, message: string): never => {
    opts.onReject?.(reason);
    opts.log?.debug("signed request rejected", { reason });
    throw new HttpError(status, message, { reason });
  };
  const expected = opts.allowedAgents.length > 0
    ? opts.allowedAgents
    : opts.selfAgentId
    ? [opts.selfAgentId]
    : [];
  return async (c, next) => {
    requireNormalPath(c, reject);
    if (expected.length === 0) reject(401, "unknown_agent", "AGENT_ID not configured");
    const agentId = c.req.header(HEADER_AGENT_ID);
    if (!agentId || !expected.includes(agentId)) {
      reject(401, "unknown_agent", "Invalid or missing X-Agent-Id");
    }
    const rate = opts.limiter.take(agentId!);
    if (!rate.allowed) {
      c.header("Retry-After", String(rate.retryAfterSecs));
      reject(429, "rate_limited", "rate limited");
    }
    const body = new Uint8Array(await c.req.arrayBuffer());
    const why = await upstreamSignatureProblem(opts, c, body, skew, now);
    if (why) reject(401, "bad_signature", `invalid signature: ${why}`);
    const requestId = c.req.header(HEADER_REQUEST_ID);
    if (!requestId) reject(400, "no_request_id", "missing X-Request-Id");
    if (requestId!.length > MAX_UPSTREAM_REQUEST_ID) {
      reject(400, "bad_header", "invalid X-Request-Id");
    }
    const verdict = rememberRequest(opts, c, reject, agentId!, requestId!);
    if (verdict === "replay") reject(409, "replay", "replay detected");
    if (verdict === "full") reject(503, "replay_full", "replay window full; retry later");
    callers.set(c.req.raw, {
      agentId: agentId!,
      requestId: requestId!,
      scopes: opts.scopes,
      mode: opts.mode ?? "upstream",
    });
    await next();
  };
}

async function upstreamSignatureProblem(
  opts: SignedAuthOptions,
  c: Context<AppEnv>,
  body: Uint8Array,
  skew: number,
  now: () => number,
): Promise<string | undefined> {
  const input = {
    timestamp: c.req.header(HEADER_TIMESTAMP),
    signature: c.req.header(HEADER_SIGNATURE),
    body,
    maxSkewSecs: skew,
    nowMs: now(),
  };
  const check = async () => {
    const why = await checkBodySignature(opts.token.current(), input);
    if (why !== "signature mismatch" || opts.mode !== "both") return why;
    // Migration: an iatp peer's canonical signature is just as good.
    const url = new URL(c.req.url);
    const ok = await verifySignature(opts.token.current(), {
      agentId: c.req.header(HEADER_AGENT_ID) ?? "",
      method: c.req.method,
      pathAndQuery: url.pathname + url.search,
      timestamp: input.timestamp ?? "",
      requestId: c.req.header(HEADER_REQUEST_ID) ?? "",
      body,
    }, input.signature ?? "");
    return ok ? undefined : why;
  };
  let why = await check();
  if (why === "signature mismatch" && await opts.token.refresh("signature mismatch")) {
    why = await check();
  }
  return why;
}
