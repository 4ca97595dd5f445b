/**
 * Bounded JSON reads of other services (audit trail, checkpoints, health): a deadline on the
 * whole exchange and a cap on the bytes read, so a slow or huge answer never holds the dashboard.
 * They go through the product's HTTP/1.1 client (core/http/client), as the dashboard's relay
 * subscription does, not `fetch`: one client in the process, not two.
 * @module
 */
import { onceUntilFailure } from "../async/mod.ts";
import { lateImport } from "../config/mod.ts";
import { errorMessage } from "../errors/mod.ts";
import type { ClientResponse } from "../http/client/mod.ts";

/** The HTTP/1.1 client's module, imported by a computed specifier (core/config's `lateImport`). */
type HttpClient = typeof import("../http/client/mod.ts");

/** Loaded with the first read; a failed load is that read's error, and the next one retries. */
const httpClient = onceUntilFailure(() =>
  lateImport<HttpClient>("../http/client/mod.ts", import.meta.url)
);

/** Why an answer whose body is not JSON is refused. */
const NOT_JSON = "answered something other than JSON";

/** The empty body of a GET. */
const NO_BODY = new Uint8Array(0);

/** The outcome of {@linkcode fetchJson}: the status and parsed body, or why there is none. */
export type JsonAnswer =
  | { ok: true; status: number; body: unknown }
  | { ok: false; error: string; status?: number };

/** Discards an answer's body (a stream is cancelled, a pooled buffer released). */
function discard(res: ClientResponse): void {
  if (res.body instanceof ReadableStream) res.body.cancel().catch(() => {});
  res.release?.();
}

/** The answer's body, at most `limit` bytes; throws past it. */
async function bodyUpTo(res: ClientResponse, limit: number): Promise<Uint8Array> {
  const tooLarge = () => new Error(`answer over ${limit} bytes`);
  const body = res.body;
  if (body === null) return NO_BODY;
  if (body instanceof Uint8Array) {
    if (body.length > limit) throw tooLarge();
    return body;
  }
  const parts: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > limit) throw tooLarge();
      parts.push(value);
    }
  } catch (err) {
    reader.cancel().catch(() => {});
    throw err;
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * GETs `url` as JSON within `timeoutMs` (connect to last byte), reading at most `maxBytes`.
 * Never throws: a network error, a timeout, an oversized or non-JSON body is an `{ok: false}`
 * answer. Statuses listed in `okStatuses` (default 200) are parsed; any other is reported with
 * its number.
 */
export async function fetchJson(
  url: string,
  opts: { timeoutMs: number; maxBytes: number; okStatuses?: number[] },
): Promise<JsonAnswer> {
  let client: ReturnType<HttpClient["createOriginClient"]> | undefined;
  try {
    const u = new URL(url);
    client = (await httpClient()).createOriginClient(u.origin, { maxIdle: 0 });
    const res = await client.send({
      method: "GET",
      target: u.pathname + u.search,
      headers: [["accept", "application/json"]],
      body: NO_BODY,
      timeoutMs: opts.timeoutMs,
    });
    if (!(opts.okStatuses ?? [200]).includes(res.status)) {
      discard(res);
      return { ok: false, status: res.status, error: `answered ${res.status}` };
    }
    const bytes = await bodyUpTo(res, opts.maxBytes);
    const text = new TextDecoder().decode(bytes);
    res.release?.();
    try {
      return { ok: true, status: res.status, body: JSON.parse(text) };
    } catch {
      // Not the parser's message: it quotes the start of the body, which the pages would show.
      return { ok: false, status: res.status, error: NOT_JSON };
    }
  } catch (err) {
    return { ok: false, error: errorMessage(err) };
  } finally {
    client?.close();
  }
}
