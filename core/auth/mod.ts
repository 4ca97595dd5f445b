/**
 * Authentication. Mesh credentials: Ed25519-signed bearer credentials, the one scope vocabulary,
 * bearer middleware, protected mode and credential files. Host agents: HMAC request signing and
 * verification, a persisted replay window, default-deny scopes, a per-agent rate limit and
 * token sources (static or Vault KV v2).
 * @module
 */
export * from "./signing.ts";
export * from "./body_signing.ts";
export * from "./replay.ts";
export * from "./scopes.ts";
export * from "./rate_limit.ts";
export * from "./tokens.ts";
export * from "./verify.ts";
export * from "./client.ts";
export * from "./credential.ts";
export * from "./grants.ts";
export * from "./bearer.ts";
export * from "./config.ts";
export * from "./files.ts";
