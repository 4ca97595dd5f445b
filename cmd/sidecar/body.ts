/**
 * Reads a request body with a hard byte limit: a declared Content-Length over the limit is
 * refused before reading, and a chunked body is cut off (and refused) as soon as it passes it.
 * @module
 */

/** A body read within the limit, or why not. */
export type BodyResult =
  | { ok: true; bytes: Uint8Array<ArrayBuffer> }
  | { ok: false; status: 400 | 413; reason: string };

/** Reads at most `limit` bytes of `req`'s body. */
export async function readBoundedBody(req: Request, limit: number): Promise<BodyResult> {
  const declared = req.headers.get("content-length");
  if (declared !== null) {
    const n = Number(declared);
    if (!Number.isSafeInteger(n) || n < 0) {
      return { ok: false, status: 400, reason: "invalid Content-Length" };
    }
    if (n > limit) return { ok: false, status: 413, reason: `body of ${n} bytes exceeds ${limit}` };
    try {
      // Deno enforces the declared length, so the fast path cannot overrun the limit.
      return { ok: true, bytes: new Uint8Array(await req.arrayBuffer()) };
    } catch (err) {
      return { ok: false, status: 400, reason: `body read failed: ${(err as Error).message}` };
    }
  }
  if (!req.body) return { ok: true, bytes: new Uint8Array(0) };
  return await readChunked(req.body, limit);
}

async function readChunked(stream: ReadableStream<Uint8Array>, limit: number): Promise<BodyResult> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > limit) {
        await reader.cancel().catch(() => {});
        return { ok: false, status: 413, reason: `body exceeds ${limit} bytes` };
      }
      chunks.push(value);
    }
  } catch (err) {
    return { ok: false, status: 400, reason: `body read failed: ${(err as Error).message}` };
  }
  const out = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return { ok: true, bytes: out };
}
