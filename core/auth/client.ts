/**
 * Outgoing signed requests: signs each attempt with a fresh request id and timestamp, and on a
 * 401/403 re-reads the keys (they may have been rotated in Vault) and retries once.
 *
 * The HMAC signing key never leaves this process: it is never sent as a bearer token, since one
 * captured request would then let anyone forge signatures. A peer that also wants a bearer
 * credential (the dashboard) gets a separate token of its own ({@linkcode SignerIdentity.bearer}).
 * The one exception is the upstream signing compatibility mode, where a TryDirect dashboard
 * (Stacker) demands the agent token itself as the bearer: the caller opts in with
 * `signing: "upstream"` and the service warns at every start.
 * @module
 */
import { signBodyRequest } from "./body_signing.ts";
import { signRequest } from "./signing.ts";
import type { TokenSource } from "./agent/mod.ts";

/** Who signs, with which key, and which separate bearer credential (if any) goes along. */
export interface SignerIdentity {
  agentId: string;
  /** The HMAC signing key. Only ever used to sign; never sent. */
  token: TokenSource;
  /**
   * A bearer credential of its own, sent as `Authorization: Bearer` when it holds a value;
   * with none (or an empty one) no Authorization header is sent (signature only).
   */
  bearer?: TokenSource;
  /**
   * `iatp` (default): canonical-string signature, the key never sent. `upstream`: body-only
   * signature, and `Authorization: Bearer` is the bearer source or else the key itself.
   */
  signing?: "iatp" | "upstream";
}

/** Options of one signed request. */
export interface SignedRequestInit {
  method?: string;
  /** JSON-serialisable body, sent as application/json. */
  json?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/**
 * Sends a signed request; a 401/403 triggers one refresh of the signing key and the bearer
 * token, and one retry when either changed.
 * @throws {TypeError} when the peer cannot be reached (from `fetch`).
 * @example
 * ```ts
 * const res = await signedFetch(url, { agentId: "status-1", token: staticToken(key) });
 * ```
 */
export async function signedFetch(
  url: string,
  identity: SignerIdentity,
  init: SignedRequestInit = {},
  doFetch: typeof fetch = fetch,
): Promise<Response> {
  const method = (init.method ?? (init.json === undefined ? "GET" : "POST")).toUpperCase();
  const body = init.json === undefined ? undefined : JSON.stringify(init.json);
  const attempt = async () => {
    const headers: Record<string, string> = { ...init.headers };
    // A caller-supplied Authorization could be the signing key: only the bearer source sets it.
    for (const k of Object.keys(headers)) {
      if (k.toLowerCase() === "authorization") delete headers[k];
    }
    const key = identity.token.current();
    const upstream = identity.signing === "upstream";
    Object.assign(
      headers,
      upstream
        ? await signBodyRequest(key, { agentId: identity.agentId, body })
        : await signRequest(key, { agentId: identity.agentId, method, url, body }),
    );
    if (body !== undefined) headers["content-type"] = "application/json";
    const bearer = identity.bearer?.current() || (upstream ? key : "");
    // Never the signing key, even when misconfigured to be the same value (iatp signing).
    if (bearer !== "" && (upstream || bearer !== key)) {
      headers["authorization"] = `Bearer ${bearer}`;
    }
    return await doFetch(url, { method, headers, body, signal: init.signal });
  };
  const res = await attempt();
  if (res.status !== 401 && res.status !== 403) return res;
  const reason = `peer answered ${res.status}`;
  const [key, bearer] = await Promise.all([
    identity.token.refresh(reason),
    identity.bearer?.refresh(reason) ?? Promise.resolve(false),
  ]);
  if (!key && !bearer) return res;
  await res.body?.cancel();
  return await attempt();
}
