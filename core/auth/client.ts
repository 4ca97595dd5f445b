/**
 * Outgoing signed requests: signs each attempt with a fresh request id and timestamp, and on a
 * 401/403 re-reads the token (it may have been rotated in Vault) and retries once.
 * @module
 */
import { signRequest } from "./signing.ts";
import type { TokenSource } from "./tokens.ts";

/** Who signs, and with which key. */
export interface SignerIdentity {
  agentId: string;
  token: TokenSource;
  /** Also send `Authorization: Bearer <token>` (the dashboard expects both). */
  bearer?: boolean;
}

/** Options of one signed request. */
export interface SignedRequestInit {
  method?: string;
  /** JSON-serialisable body, sent as application/json. */
  json?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** Sends a signed request; a 401/403 triggers one token refresh and one retry. */
export async function signedFetch(
  url: string,
  identity: SignerIdentity,
  init: SignedRequestInit = {},
  doFetch: typeof fetch = fetch,
): Promise<Response> {
  const method = (init.method ?? (init.json === undefined ? "GET" : "POST")).toUpperCase();
  const body = init.json === undefined ? undefined : JSON.stringify(init.json);
  const attempt = async () => {
    const token = identity.token.current();
    const headers: Record<string, string> = {
      ...init.headers,
      ...(await signRequest(token, { agentId: identity.agentId, method, url, body })),
    };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (identity.bearer) headers["authorization"] = `Bearer ${token}`;
    return await doFetch(url, { method, headers, body, signal: init.signal });
  };
  const res = await attempt();
  if (res.status !== 401 && res.status !== 403) return res;
  if (!(await identity.token.refresh(`peer answered ${res.status}`))) return res;
  await res.body?.cancel();
  return await attempt();
}
