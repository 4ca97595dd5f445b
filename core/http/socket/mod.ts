/**
 * Socket reads without the runtime's per-read bookkeeping, and writes without its per-write
 * async function.
 *
 * `Deno.Conn.read` adds each read's promise to a `Set` the connection holds, and deletes it when
 * the read ends; the `Set` exists only so `ref()` and `unref()` can reach reads in flight. A
 * keep-alive connection lives long enough to reach V8's old generation, and its `Set` with it;
 * V8 then makes each grown or shrunk table of that `Set` in the old generation too, so every
 * read leaves about 120 bytes of garbage there (measured with Deno 2.9.6). On a busy server that
 * is most of what fills the old generation (two reads per proxied request), and so what sets how
 * often a full collection runs, each one a stall of several milliseconds under load.
 *
 * Where the runtime exposes its op core (`Deno[Deno.internal].core`, as Deno 2 does), a read
 * here calls the same `read` op the method calls, on the same resource, with no `Set`: the same
 * bytes, the same errors, no old-generation garbage. Elsewhere it falls back to the method. No
 * connection of the product is unref'd, which is all the `Set` is for.
 *
 * `Deno.Conn.write` is an async function that awaits the runtime's `write` op and returns its
 * count (Deno 2.9.6: `async function write(rid, data) { return await core.write(rid, data) }`):
 * a promise and two promise jobs more than the op's own per write, two writes per proxied
 * request. A write here calls that op on the same resource: the same count, the same errors.
 * @module
 */

/**
 * Reads into `into` (never empty): resolves the count of bytes read, 0 at the end of the stream;
 * rejects as `Deno.Conn.read` does (a closed resource, a reset).
 */
export type SocketRead = (into: Uint8Array) => Promise<number>;

type OpRead = (rid: number, into: Uint8Array) => Promise<number>;

/**
 * Writes some of `bytes`: resolves the count the socket took (all of it, as a rule; write the
 * rest after a partial write); rejects as `Deno.Conn.write` does (a closed resource, a reset).
 */
export type SocketWrite = (bytes: Uint8Array) => Promise<number>;

/** The runtime's op core function `name`, when it is reachable. */
function coreOp(name: "read" | "write"): OpRead | undefined {
  const key = (Deno as unknown as { internal?: symbol }).internal;
  if (typeof key !== "symbol") return undefined;
  type Internal = { core?: Record<string, unknown> } | undefined;
  const op = (Deno as unknown as Record<symbol, Internal>)[key]?.core?.[name];
  return typeof op === "function" ? op as OpRead : undefined;
}

/** The runtime's `read` op, when it is reachable. */
const opRead = coreOp("read");
/** The runtime's `write` op, when it is reachable. */
const opWrite = coreOp("write");

/** The resource id a connection keeps under the runtime's own symbol, if it does. */
function ridOf(conn: Deno.Conn): number | undefined {
  for (const s of Object.getOwnPropertySymbols(conn)) {
    if (s.description !== "Deno.internal.rid") continue;
    const rid = (conn as unknown as Record<symbol, unknown>)[s];
    return typeof rid === "number" && Number.isInteger(rid) && rid >= 0 ? rid : undefined;
  }
  return undefined;
}

function emptyBuffer(): Promise<number> {
  return Promise.reject(new RangeError("a socket read needs a non-empty buffer"));
}

/** How {@linkcode socketReader} reads on this runtime: "op" (no `Set`) or "method" (fallback). */
export const SOCKET_READ_PATH: "op" | "method" = opRead ? "op" : "method";

/** A reader of `conn`'s bytes (see the module: no per-read garbage where the runtime allows). */
export function socketReader(conn: Deno.Conn): SocketRead {
  const rid = opRead ? ridOf(conn) : undefined;
  if (opRead && rid !== undefined) {
    const read = opRead;
    return (into) => into.length === 0 ? emptyBuffer() : read(rid, into);
  }
  return (into) =>
    into.length === 0 ? emptyBuffer() : conn.read(into).then((n) => n === null ? 0 : n);
}

/** How {@linkcode socketWriter} writes on this runtime: "op" (no async function) or "method". */
export const SOCKET_WRITE_PATH: "op" | "method" = opWrite ? "op" : "method";

/** A writer of `conn`'s bytes (see the module: the runtime's op, no async function around it). */
export function socketWriter(conn: Deno.Conn): SocketWrite {
  const rid = opWrite ? ridOf(conn) : undefined;
  if (opWrite && rid !== undefined) {
    const write = opWrite;
    return (bytes) => write(rid, bytes);
  }
  return (bytes) => conn.write(bytes);
}
