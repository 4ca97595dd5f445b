/**
 * Type tests against the web classes an answer may be, for the request path. Deno's
 * `ReadableStream` and `Response` globals are getters that load their module on each read (about
 * 260 instructions a read under callgrind, where a per-request `instanceof` named them); each is
 * read here once, on first use (at start its module may not be loaded yet, and it need not be).
 * @module
 */

let streamClass: typeof ReadableStream | undefined;
let responseClass: typeof Response | undefined;

/**
 * `x instanceof ReadableStream`, reading the global once.
 * @example
 * ```ts
 * isReadableStream(new ReadableStream()); // true
 * isReadableStream(new Uint8Array(1)); // false
 * ```
 */
export function isReadableStream(x: unknown): x is ReadableStream<Uint8Array> {
  return x instanceof (streamClass ??= ReadableStream);
}

/**
 * `x instanceof Response`, reading the global once.
 * @example
 * ```ts
 * isResponse(new Response("hi")); // true
 * isResponse({ status: 200, headers: [], body: null }); // false
 * ```
 */
export function isResponse(x: unknown): x is Response {
  return x instanceof (responseClass ??= Response);
}
