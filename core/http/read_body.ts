/**
 * The one bounded body reader, for requests and responses alike: memory grows with the bytes
 * that arrive (never with a declared length), a body over the limit is refused (or cut, for
 * {@linkcode readBodyPrefix}), and the whole read can have a deadline.
 * @module
 */
import { deadline, isTimeout } from "../async/mod.ts";
import { HttpError } from "../errors/mod.ts";
import { bodyTooLarge } from "./h1/body.ts";

/** Anything with a body: a Request or a Response. */
export interface BodySource {
  readonly body: ReadableStream<Uint8Array> | null;
  readonly headers: Headers;
  arrayBuffer(): Promise<ArrayBuffer>;
}

/** Options for {@linkcode readBody}. */
export interface ReadBodyOptions {
  /** Largest body accepted, in bytes. */
  limit: number;
  /** Time allowed for the whole read, in ms (unset or 0: none beyond the connection's own). */
  timeoutMs?: number;
}

/**
 * Reads all of `source`'s body, refusing more than `limit` bytes.
 *
 * @throws {HttpError} 413 when the declared or the actual length is over the limit; 400 when
 * the declared length is invalid or the body breaks off; 408 when `timeoutMs` passes first.
 * An HttpError the body stream itself fails with (the HTTP edge's 400/408/413) is rethrown.
 * @example
 * ```ts
 * const bytes = await readBody(req, { limit: 1024 * 1024, timeoutMs: 30_000 });
 * ```
 */
export async function readBody(
  source: BodySource,
  opts: ReadBodyOptions,
): Promise<Uint8Array<ArrayBuffer>> {
  const declared = source.headers.get("content-length");
  if (declared !== null) {
    const n = Number(declared);
    if (!/^\d+$/.test(declared) || !Number.isSafeInteger(n)) {
      await source.body?.cancel().catch(() => {});
      throw new HttpError(400, "invalid Content-Length");
    }
    if (n > opts.limit) {
      await source.body?.cancel().catch(() => {});
      throw bodyTooLarge(opts.limit);
    }
    // The framing delivers exactly the declared bytes (the HTTP edge and fetch both enforce
    // it), so the runtime's own reader is bounded too, and faster for a body already in hand.
    return await within(opts.timeoutMs, source.arrayBuffer().then((b) => new Uint8Array(b)));
  }
  const { bytes, truncated } = await collect(source.body, opts.limit, opts.timeoutMs);
  if (truncated) throw bodyTooLarge(opts.limit);
  return bytes;
}

/**
 * Reads at most `limit` bytes of `source`'s body and cancels the rest.
 *
 * @throws {HttpError} 400 when the body breaks off; 408 when `timeoutMs` passes first
 * @example
 * ```ts
 * const { bytes, truncated } = await readBodyPrefix(res, 4096);
 * ```
 */
export function readBodyPrefix(
  source: BodySource,
  limit: number,
  timeoutMs?: number,
): Promise<{ bytes: Uint8Array<ArrayBuffer>; truncated: boolean }> {
  return collect(source.body, limit, timeoutMs);
}

/** `work`, or a 408 when `timeoutMs` passes first; read failures become 400. */
async function within<T>(timeoutMs: number | undefined, work: Promise<T>): Promise<T> {
  try {
    return timeoutMs ? await deadline(work, timeoutMs) : await work;
  } catch (err) {
    if (err instanceof HttpError) throw err;
    if (isTimeout(err)) throw timedOut(timeoutMs);
    throw new HttpError(400, "body read failed", {}, { cause: err });
  }
}

/** A 408 naming the wait: this read's own, or the deadline of the request it belongs to. */
function timedOut(timeoutMs: number | undefined): HttpError {
  return new HttpError(
    408,
    timeoutMs
      ? `body not received within ${timeoutMs} ms`
      : "body not received before the request's deadline",
  );
}

/** Reads up to `limit` bytes; `truncated` when there was more (which is cancelled). */
async function collect(
  body: ReadableStream<Uint8Array> | null,
  limit: number,
  timeoutMs: number | undefined,
): Promise<{ bytes: Uint8Array<ArrayBuffer>; truncated: boolean }> {
  if (!body) return { bytes: new Uint8Array(0), truncated: false };
  const reader = body.getReader();
  try {
    const read = await within(timeoutMs, readUpTo(reader, limit));
    if (read.truncated) reader.cancel().catch(() => {});
    return read;
  } catch (err) {
    reader.cancel().catch(() => {});
    throw err;
  }
}

/** Reads until the end or until `limit` bytes; `truncated` when there was more. */
async function readUpTo(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  limit: number,
): Promise<{ bytes: Uint8Array<ArrayBuffer>; truncated: boolean }> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const r = await reader.read();
    if (r.done) return { bytes: join(chunks, size), truncated: false };
    if (size + r.value.length > limit) {
      chunks.push(r.value.subarray(0, limit - size));
      return { bytes: join(chunks, limit), truncated: true };
    }
    chunks.push(r.value);
    size += r.value.length;
  }
}

function join(chunks: Uint8Array[], size: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
