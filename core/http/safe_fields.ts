/**
 * The fields every answer a service makes itself carries (JSON, Prometheus text, an error
 * envelope, a redirect): `X-Content-Type-Options: nosniff`, so a browser never reads the body as
 * another type than it is sent as, and `Content-Security-Policy: default-src 'none';
 * frame-ancestors 'none'`, so nothing such a body holds may load, run or be framed. Not on an
 * answer the sidecar passes on from its agent (the agent's own), nor on the dashboard's pages
 * (their own policy, which lets its scripts and styles load). Their lines are written from bytes
 * made once at start.
 * @module
 */
import type { HeaderPairs } from "./h1/raw.ts";
import { keepFieldLine } from "./wire/mod.ts";

/** `X-Content-Type-Options` of a service's own answers. */
export const NOSNIFF_FIELD: [string, string] = ["X-Content-Type-Options", "nosniff"];
/** `Content-Security-Policy` of a service's own answers: nothing loads, nothing frames it. */
export const NO_CONTENT_CSP_FIELD: [string, string] = [
  "Content-Security-Policy",
  "default-src 'none'; frame-ancestors 'none'",
];
keepFieldLine(NOSNIFF_FIELD[0], NOSNIFF_FIELD[1]);
keepFieldLine(NO_CONTENT_CSP_FIELD[0], NO_CONTENT_CSP_FIELD[1]);

/**
 * `headers` with both fields appended (the same pairs every time: never change them).
 * @example
 * ```ts
 * withSafeFields([["content-type", "application/json"]]).length; // 3
 * ```
 */
export function withSafeFields<T extends HeaderPairs | Array<[string, string]>>(headers: T): T {
  headers.push(NOSNIFF_FIELD, NO_CONTENT_CSP_FIELD);
  return headers;
}

/**
 * Sets each field on a Hono answer that has none of that name (the dashboard's carry their own);
 * a Response whose fields are immutable is copied first. Returns the answer to keep.
 */
export function addSafeFields(res: Response): Response {
  const sniff = !res.headers.has(NOSNIFF_FIELD[0]);
  const csp = !res.headers.has(NO_CONTENT_CSP_FIELD[0]);
  if (!sniff && !csp) return res;
  let out = res;
  try {
    if (sniff) out.headers.set(NOSNIFF_FIELD[0], NOSNIFF_FIELD[1]);
  } catch {
    out = new Response(res.body, res);
    out.headers.set(NOSNIFF_FIELD[0], NOSNIFF_FIELD[1]);
  }
  if (csp) out.headers.set(NO_CONTENT_CSP_FIELD[0], NO_CONTENT_CSP_FIELD[1]);
  return out;
}
