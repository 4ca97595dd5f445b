/**
 * The relay's CORS answers, written once for both paths: the router applies them with Hono's
 * `cors` middleware (`CORS_SETTINGS`), the raw path adds the same header fields itself
 * (`corsFields`, `preflightFields`), so a browser sees the same answer on either.
 * @module
 */
import { HttpError } from "../errors/mod.ts";
import type { HeaderPairs } from "../http/mod.ts";

/** What the relay allows a cross-origin caller (the settings of Hono's `cors`). */
export const CORS_SETTINGS = {
  allowMethods: ["GET", "POST", "OPTIONS"],
  // Idempotency-Key is no CORS-safelisted header: without it here a browser refuses a keyed
  // publish at the preflight, and a page reads Idempotent-Replayed only when it is exposed.
  allowHeaders: [
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "Last-Event-ID",
    "X-Request-Id",
  ],
  exposeHeaders: ["Idempotent-Replayed", "X-Request-Id"],
  maxAge: 600,
};

/** Allowed origins (`*` for any): the request's `Origin` when allowed, else null. */
export function allowedOrigin(origins: readonly string[], origin: string): string | null {
  return origins.includes("*") || origins.includes(origin) ? origin : null;
}

/** The fields Hono's `cors` sets on every answer but a preflight's, before and after the route. */
export function corsFields(origins: readonly string[], origin: string | null): HeaderPairs {
  const allowed = allowedOrigin(origins, origin ?? "");
  const out: HeaderPairs = [];
  if (allowed) out.push(["Access-Control-Allow-Origin", allowed]);
  out.push(["Access-Control-Expose-Headers", CORS_SETTINGS.exposeHeaders.join(",")]);
  out.push(["Vary", "Origin"]);
  return out;
}

/** The fields of Hono's answer to a preflight (`OPTIONS`, 204, no body). */
export function preflightFields(origins: readonly string[], origin: string | null): HeaderPairs {
  const allowed = allowedOrigin(origins, origin ?? "");
  const out: HeaderPairs = [];
  if (allowed) out.push(["Access-Control-Allow-Origin", allowed]);
  out.push(
    ["Access-Control-Expose-Headers", CORS_SETTINGS.exposeHeaders.join(",")],
    ["Vary", "Origin, Access-Control-Request-Headers"],
    ["Access-Control-Max-Age", String(CORS_SETTINGS.maxAge)],
    ["Access-Control-Allow-Methods", CORS_SETTINGS.allowMethods.join(",")],
    ["Access-Control-Allow-Headers", CORS_SETTINGS.allowHeaders.join(",")],
  );
  return out;
}

/**
 * Refuses a publish sent by a browser page (it carries `Origin`) of an origin `cors_origins` does
 * not allow. The relay serves no pages of its own, so every such publish comes from another site;
 * a plain form or `fetch` post needs no preflight, so without this any page a browser visits could
 * publish to a relay that runs open on loopback. Clients that are not browsers send no `Origin`.
 * @throws {HttpError} 403 naming the setting
 */
export function refuseForeignOrigin(origins: readonly string[], origin: string | null): void {
  if (origin === null || allowedOrigin(origins, origin) !== null) return;
  throw new HttpError(403, "publish from a browser page of an origin not in cors_origins refused", {
    setting: "cors_origins",
  });
}
