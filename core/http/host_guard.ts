/**
 * The DNS rebinding guard of a service that runs open on loopback: a request naming a host
 * that is not a loopback name or address is refused (421) before any route runs.
 *
 * A page a browser visits cannot read the answers of another origin, but a name of the page's
 * own site that re-resolves to 127.0.0.1 (DNS rebinding) makes the page same-origin with a
 * service on loopback: it could then read whatever an open service serves. The one thing the
 * service sees of that is the host the request names, the page's own (`attacker.example`).
 * @module
 */
import { HttpError } from "../errors/mod.ts";
import type { RequestHead } from "./h1/head.ts";
import type { RawRoute } from "./raw_route.ts";

/** The most characters of a refused host the answer quotes. */
export const MAX_QUOTED_HOST_CHARS = 64;

/** `127.a.b.c`, each part a decimal octet (checked apart). */
const LOOPBACK_V4 = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/**
 * True for a Host value or URL authority naming this host only: `localhost` and `*.localhost`
 * (RFC 6761), a 127.0.0.0/8 IPv4 literal or `[::1]`, with or without a port, in any case.
 * @example
 * ```ts
 * isLoopbackAuthority("127.0.0.1:19001"); // true
 * isLoopbackAuthority("app.LOCALHOST"); // true
 * isLoopbackAuthority("attacker.example:19001"); // false
 * ```
 */
export function isLoopbackAuthority(authority: string): boolean {
  let host = authority;
  if (host.charCodeAt(0) === 91) { // "["
    const end = host.indexOf("]");
    return end > 0 && host.slice(1, end) === "::1" && portOnly(host, end + 1);
  }
  const colon = host.indexOf(":");
  if (colon >= 0) {
    if (!portOnly(host, colon)) return false;
    host = host.slice(0, colon);
  }
  host = host.toLowerCase();
  if (host === "localhost" || (host.endsWith(".localhost") && host.length > 10)) return true;
  const v4 = LOOPBACK_V4.exec(host);
  return v4 !== null && Number(v4[1]) < 256 && Number(v4[2]) < 256 && Number(v4[3]) < 256;
}

/** True when `s` from `at` on is nothing or `:` and decimal digits (a port, maybe empty). */
function portOnly(s: string, at: number): boolean {
  if (at === s.length) return true;
  if (s.charCodeAt(at) !== 58) return false; // ":"
  for (let i = at + 1; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/**
 * The host a request names when it is not a loopback one, else undefined: its `Host` field
 * value, and the authority of an absolute-form request-target (what the URL a route sees is
 * made of). No `Host` at all (only HTTP/1.0 may omit it; no browser does) names nothing.
 * @example
 * ```ts
 * foreignHostOf("attacker.example:19001", "/subscribe"); // "attacker.example:19001"
 * foreignHostOf("localhost:19001", "/subscribe"); // undefined
 * ```
 */
export function foreignHostOf(host: string, target: string): string | undefined {
  if (host !== "" && !isLoopbackAuthority(host)) return host;
  if (target.charCodeAt(0) === 47 || target === "*") return undefined; // origin-form, asterisk
  let authority: string;
  try {
    authority = new URL(target).host;
  } catch {
    return target;
  }
  return isLoopbackAuthority(authority) ? undefined : authority;
}

/**
 * True when a listener on `host` is guarded: it is a loopback one (`127.0.0.0/8`, `::1`,
 * `localhost`) and the service does not serve every host (`anyHost`: credentials configured,
 * or `--insecure`). Beyond loopback a service runs open only with `--insecure`.
 */
export function guardsHost(host: string, anyHost: boolean): boolean {
  return !anyHost && (host === "::1" || isLoopbackAuthority(host));
}

/**
 * The last Host value found to name a loopback host: a client sends the same one with each of
 * its requests, so a request naming it in origin-form is passed with one string compare instead
 * of the whole check (about 2k instructions a request on the sidecar's path).
 */
let lastLoopbackHost = "";

/** True when `head` names a host that is not a loopback one ({@linkcode foreignHostOf}). */
export function namesForeignHost(head: RequestHead): boolean {
  const host = head.host;
  const originForm = head.target.charCodeAt(0) === 47; // "/"
  if (originForm && host === lastLoopbackHost && host !== "") return false;
  if (foreignHostOf(host, head.target) !== undefined) return true;
  if (originForm && host !== "") lastLoopbackHost = host;
  return false;
}

/** The route that answers a request naming a foreign host (see {@linkcode foreignHostOf}). */
export const MISDIRECTED_ROUTE: RawRoute = {
  route: "misdirected",
  serve(req) {
    const host = foreignHostOf(req.header("host") ?? "", req.target) ?? "";
    const quoted = host.length > MAX_QUOTED_HOST_CHARS
      ? `${host.slice(0, MAX_QUOTED_HOST_CHARS)}...`
      : host;
    throw new HttpError(
      421,
      "misdirected request: this service runs open (no credentials) on loopback and serves " +
        "only requests naming localhost, 127.0.0.0/8 or [::1]",
      { found: quoted, setting: "insecure" },
    );
  },
};
