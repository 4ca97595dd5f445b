/**
 * What a `/proxy[/<path>][?<query>]` request URL means: the agent target (dot segments removed,
 * kept under the agent's base path, refused when that cannot be done safely) and what the path
 * and query say once percent-decoded (cards and SSNs found, redacted copies to record).
 * @module
 */
import { checkTargetText, normalizePath, percentDecode, TargetError } from "../http/client/mod.ts";
import { inspectText } from "../pii/mod.ts";

export { TargetError } from "../http/client/mod.ts";

/** The sidecar path the proxy serves. */
const PROXY = "/proxy";
/** Percent-decoding rounds applied before scanning (a server may decode more than once). */
const MAX_DECODE_ROUNDS = 3;

/** A request URL, parsed and inspected. */
export interface Target {
  /** Path and query on the agent. */
  upstream: string;
  /** The sidecar path as recorded: as received, or decoded with PII redacted. */
  path: string;
  /** The query as recorded (same rule), "" when there is none. */
  query: string;
  /** A card in the path or query. */
  card: boolean;
  /** An SSN in the path or query. */
  ssn: boolean;
}

/**
 * `text` percent-decoded up to {@linkcode MAX_DECODE_ROUNDS} times, `+` read as a space in the
 * first round when `plusAsSpace`: what a server that decodes it may end up seeing.
 *
 * @example
 * ```ts
 * decodeForScan("4532%252D0151", false); // "4532-0151"
 * ```
 */
export function decodeForScan(text: string, plusAsSpace: boolean): string {
  let s = text;
  for (let round = 0; round < MAX_DECODE_ROUNDS; round++) {
    const next = percentDecode(s, plusAsSpace && round === 0);
    if (next === s) break;
    s = next;
  }
  return s;
}

/** Scans a URL part as a server would read it; the part to record and the findings. */
function inspectPart(raw: string): { recorded: string; card: boolean; ssn: boolean } {
  const seen = inspectText(decodeForScan(raw, true));
  return { recorded: seen.card || seen.ssn ? seen.text : raw, card: seen.card, ssn: seen.ssn };
}

/**
 * Parses and inspects a request-target (`/proxy/...?...` exactly as received, or a URL).
 * @throws {TargetError} when the path is not `/proxy` or below it, climbs above the agent's
 * base path, hides a dot segment, holds what must be percent-encoded, or would reach the agent
 * starting with `//`.
 */
export function proxyTarget(basePath: string, href: string): Target {
  const pathStart = href.charCodeAt(0) === 47 ? 0 : href.indexOf("/", href.indexOf("://") + 3);
  const q = href.indexOf("?", pathStart);
  const path = pathStart < 0 ? "/" : href.slice(pathStart, q < 0 ? href.length : q);
  const query = q < 0 ? "" : href.slice(q + 1);
  if (!path.startsWith(PROXY) || (path.length > PROXY.length && path[PROXY.length] !== "/")) {
    throw new TargetError("path is not /proxy or below it");
  }
  const rest = path.slice(PROXY.length);
  let agentPath: string;
  if (rest === "" || rest === "/") {
    agentPath = rest === "/" && !basePath.endsWith("/") ? basePath + "/" : basePath;
  } else {
    agentPath = basePath.replace(/\/+$/, "") + normalizePath(rest);
  }
  // `//host/x` is a network-path reference: resolved against a base URL (`new URL(path, base)`,
  // `urljoin`, a redirect) it names another host. Only an agent at `/` can be sent one.
  if (agentPath.charCodeAt(1) === 47 && agentPath.charCodeAt(0) === 47) {
    throw new TargetError("path starts with //, which names a host where it is resolved");
  }
  if (query !== "") checkTargetText(query, "query");
  const p = inspectPart(rest);
  const s = query === "" ? { recorded: "", card: false, ssn: false } : inspectPart(query);
  return {
    upstream: query === "" ? agentPath : `${agentPath}?${query}`,
    path: PROXY + p.recorded,
    query: s.recorded,
    card: p.card || s.card,
    ssn: p.ssn || s.ssn,
  };
}
