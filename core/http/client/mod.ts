/**
 * A strict, fast HTTP/1.1 client for one origin (RFC 9112): a keep-alive pool, in-place
 * response parsing that refuses ambiguous framing, no re-sending of a request any byte of
 * which reached the socket, and target hygiene (dot segments, escapes) for forwarded paths.
 *
 * @example
 * ```ts
 * import { createOriginClient } from "./mod.ts";
 * const client = createOriginClient("http://127.0.0.1:8000");
 * const res = await client.send({
 *   method: "POST", target: "/", headers: [], body: new Uint8Array(0), timeoutMs: 1000,
 * });
 * client.close();
 * ```
 * @module
 */
export { createOriginClient, type OriginClient, type SendRequest } from "./client.ts";
export { HttpClientError } from "./error.ts";
export type { ClientRequest, ClientResponse, OriginPoolOptions } from "./pool.ts";
export { checkTargetText, normalizePath, percentDecode, TargetError } from "./uri.ts";
