/**
 * A fake agent on a raw TCP socket: it parses each request (head + Content-Length body),
 * counts arrivals, and answers with the exact bytes a test gives it, so framing cases the
 * runtime's own server would never produce can be played.
 * @module
 */

/** One request as it arrived. */
export interface Arrival {
  /** Sequence number over all connections, from 0. */
  n: number;
  /** Connection number, from 0. */
  connection: number;
  /** Request line, e.g. `POST /x HTTP/1.1`. */
  line: string;
  /** Header lines (as received). */
  headers: string[];
  body: string;
}

/**
 * What to do after a request: bytes to write (then keep reading), bytes then close, pieces
 * written one socket write each (then keep reading), `"close"` (close without answering) or
 * `"hang"` (answer nothing, keep the connection).
 */
export type Reply =
  | string
  | Uint8Array
  | { bytes: string | Uint8Array; close: true }
  | { pieces: string[] }
  | "close"
  | "hang";

/** A running raw agent. */
export interface RawAgent {
  url: string;
  origin: URL;
  arrivals: Arrival[];
  /** Connections accepted so far. */
  readonly connections: number;
  close(): void;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function indexOfBlankLine(buf: Uint8Array, len: number): number {
  for (let i = 3; i < len; i++) {
    if (buf[i] === 10 && buf[i - 1] === 13 && buf[i - 2] === 10 && buf[i - 3] === 13) return i + 1;
  }
  return -1;
}

/**
 * Starts a raw agent on loopback (`port`, or any); `reply` decides what each request gets. With
 * `unixPath` it listens on that Unix socket (its `url` and `origin` are then `http://localhost`,
 * the Host a client sends).
 */
export function startRawAgent(
  reply: (a: Arrival) => Reply,
  opts: { unixPath?: string; port?: number } = {},
): RawAgent {
  const listener = opts.unixPath === undefined
    ? Deno.listen({ hostname: "127.0.0.1", port: opts.port ?? 0 })
    : Deno.listen({ transport: "unix", path: opts.unixPath });
  const arrivals: Arrival[] = [];
  const conns = new Set<Deno.Conn>();
  let connections = 0;
  const serve = async (conn: Deno.Conn, id: number) => {
    let buf = new Uint8Array(0);
    const chunk = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const end = indexOfBlankLine(buf, buf.length);
        if (end < 0) {
          const n = await conn.read(chunk);
          if (n === null) return;
          const next = new Uint8Array(buf.length + n);
          next.set(buf);
          next.set(chunk.subarray(0, n), buf.length);
          buf = next;
          continue;
        }
        const lines = dec.decode(buf.subarray(0, end - 4)).split("\r\n");
        const cl = lines.find((l) => /^content-length:/i.test(l));
        const length = cl ? Number(cl.slice(cl.indexOf(":") + 1).trim()) : 0;
        while (buf.length < end + length) {
          const n = await conn.read(chunk);
          if (n === null) return;
          const next = new Uint8Array(buf.length + n);
          next.set(buf);
          next.set(chunk.subarray(0, n), buf.length);
          buf = next;
        }
        const arrival: Arrival = {
          n: arrivals.length,
          connection: id,
          line: lines[0],
          headers: lines.slice(1),
          body: dec.decode(buf.subarray(end, end + length)),
        };
        buf = buf.slice(end + length);
        arrivals.push(arrival);
        const r = reply(arrival);
        if (r === "hang") continue;
        if (r === "close") return;
        if (typeof r === "object" && "pieces" in r) {
          for (const piece of r.pieces) {
            const b = enc.encode(piece);
            let off = 0;
            while (off < b.length) off += await conn.write(b.subarray(off));
          }
          continue;
        }
        const out = typeof r === "string" ? enc.encode(r) : r instanceof Uint8Array ? r : undefined;
        const bytes = out ??
          (typeof r === "object" && "bytes" in r
            ? (typeof r.bytes === "string" ? enc.encode(r.bytes) : r.bytes)
            : new Uint8Array(0));
        let off = 0;
        while (off < bytes.length) off += await conn.write(bytes.subarray(off));
        if (typeof r === "object" && !(r instanceof Uint8Array)) return;
      }
    } catch {
      /* the peer went away */
    } finally {
      conns.delete(conn);
      try {
        conn.close();
      } catch { /* closed */ }
    }
  };
  (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      serve(conn, connections++);
    }
  })().catch(() => {});
  const url = opts.unixPath === undefined
    ? `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`
    : "http://localhost";
  return {
    url,
    origin: new URL(url),
    arrivals,
    get connections() {
      return connections;
    },
    close() {
      try {
        listener.close();
      } catch { /* closed already */ }
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    },
  };
}

/** A 200 response with `body` and exact framing (extra header lines in `extra`). */
export function ok(body: string, extra = ""): string {
  return `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\n${extra}\r\n${body}`;
}

/** A response read off a raw socket. */
export interface RawResponse {
  status: number;
  /** Header names in lower case. */
  headers: Map<string, string>;
  body: string;
}

/**
 * Sends `head` (request line and header lines, without the blank line) and `body` to `url`
 * exactly as written, with `connection: close`, and reads the whole response: for request
 * targets `fetch` would normalise (`/proxy/../x`).
 */
export async function rawRequest(url: string, head: string, body = ""): Promise<RawResponse> {
  const u = new URL(url);
  const conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
  try {
    const bytes = enc.encode(body);
    const text =
      `${head}\r\nhost: ${u.host}\r\nconnection: close\r\ncontent-length: ${bytes.length}\r\n\r\n`;
    const out = new Uint8Array([...enc.encode(text), ...bytes]);
    let off = 0;
    while (off < out.length) off += await conn.write(out.subarray(off));
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(16 * 1024);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
    const all = dec.decode(new Uint8Array(chunks.flatMap((c) => [...c])));
    const split = all.indexOf("\r\n\r\n");
    const lines = all.slice(0, split).split("\r\n");
    const headers = new Map<string, string>();
    for (const l of lines.slice(1)) {
      const i = l.indexOf(":");
      headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
    }
    let rest = all.slice(split + 4);
    if (headers.get("transfer-encoding") === "chunked") {
      let decoded = "";
      for (;;) {
        const eol = rest.indexOf("\r\n");
        const size = parseInt(rest.slice(0, eol), 16);
        if (!size) break;
        decoded += rest.slice(eol + 2, eol + 2 + size);
        rest = rest.slice(eol + 2 + size + 2);
      }
      rest = decoded;
    }
    return { status: Number(lines[0].split(" ")[1]), headers, body: rest };
  } finally {
    conn.close();
  }
}
