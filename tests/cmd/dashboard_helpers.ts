/**
 * Shared by the dashboard tests: start a dashboard in-process against a real relay, read its
 * state, start a real audit service, and mint credentials with a fresh issuer.
 * @module
 */
import assert from "node:assert/strict";
import { command as audit } from "../../cmd/audit.ts";
import { command as dashboard } from "../../cmd/dashboard.ts";
import { generateIssuer, issueCredential } from "../../core/auth/mod.ts";
import { importSeed } from "../../core/crypto/mod.ts";
import { encodeBase64 } from "../../core/encoding/mod.ts";
import type { Service } from "../../core/http/mod.ts";
import { formatVkey } from "../../core/ledger/mod.ts";
import { quietLog } from "../core/relay/relay_helpers.ts";

/** Starts a dashboard following `relayUrl` on a free loopback port. */
export function startDashboard(
  relayUrl: string,
  extra: Record<string, unknown> = {},
): Promise<Service> {
  return dashboard.start(
    dashboard.resolve({ port: 0, relay_url: relayUrl, heartbeat: 200, retry: 200, ...extra }),
    { log: quietLog },
  );
}

/** `GET /api/state` (with optional headers, e.g. a bearer credential). */
export async function state(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}/api/state`, { headers });
  assert.equal(res.status, 200, `state: ${res.status}`);
  return await res.json();
}

/** Starts a real audit service with a known key; returns it with its verifier key. */
export async function startAudit(dir: string) {
  const seed = crypto.getRandomValues(new Uint8Array(32));
  const key = await importSeed(seed);
  const svc = await audit.start(
    audit.spec.resolve({
      port: 0,
      db: `${dir}/audit.db`,
      signing_key: encodeBase64(seed),
      origin: "test-audit",
    }),
    { log: quietLog },
  );
  return { svc, vkey: formatVkey("test-audit", key.publicRaw) };
}

/** Appends one entry to a real audit service. */
export async function appendAudit(url: string, entry: Record<string, unknown>) {
  const res = await fetch(`${url}/audit`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    // The ledger's default (compat upstream) requires a payload, as the IG&S audit service does.
    body: JSON.stringify({ payload: {}, ...entry }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  return await res.json();
}

/** A fresh issuer and a function minting credentials from it. */
export async function issuerFor() {
  const issuer = await generateIssuer();
  return {
    publicKey: issuer.publicKey,
    mint: (sub: string, scopes: string[], ttlMs?: number, now?: number) =>
      issueCredential(issuer, { sub, scopes, ttlMs, now }),
  };
}

/** Logs in with `credential` (JSON); returns the response and the session cookie pair. */
export async function login(url: string, credential: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}/login`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ credential }),
  });
  const setCookie = res.headers.get("set-cookie") ?? "";
  const body = await res.json();
  return { res, body, setCookie, cookie: setCookie.split(";")[0] };
}
