/**
 * A server on a raw TCP socket that answers each request as a test scripts it (nothing at all,
 * or a head and then pieces of body it writes when told) and notices each connection the
 * client closes, for the client's deadlines and cancelling on real sockets.
 * @module
 */

/** One connection as the server saw it. */
export interface StallConnection {
  /** The request head's lines (request line first). */
  lines: string[];
  /** Writes `text` on the connection (a piece of the answer). */
  write(text: string): Promise<void>;
  /** Writes `bytes` as they are (a piece of the answer that need not be UTF-8). */
  writeBytes(bytes: Uint8Array): Promise<void>;
  /** Closes the connection from the server's side (the end of a close-delimited body). */
  end(): void;
  /** Resolves once the client closed the connection (its read ended or failed). */
  closed: Promise<void>;
  /** True once the client closed it. */
  readonly isClosed: boolean;
}

/** A running stall server. */
export interface StallServer {
  url: string;
  origin: URL;
  /** Connections whose request head arrived, in order. */
  connections: StallConnection[];
  close(): void;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A write that failed because the client had left: the connection is gone, not a fault. */
function leftEarly(e: unknown): boolean {
  return e instanceof Deno.errors.BadResource || e instanceof Deno.errors.BrokenPipe ||
    e instanceof Deno.errors.ConnectionReset || e instanceof Deno.errors.NotConnected;
}

/**
 * Starts the server; `onRequest` gets each connection once its request head arrived and
 * answers through it (or never). A script still writing when the client leaves (a client that
 * reconnects, or a test that ends) stops there; any other failure of the script is thrown.
 */
export function startStallServer(
  onRequest: (c: StallConnection) => void | Promise<void>,
): StallServer {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const connections: StallConnection[] = [];
  const open = new Set<Deno.Conn>();
  const serve = async (conn: Deno.Conn) => {
    const chunk = new Uint8Array(16 * 1024);
    let text = "";
    const { promise: closed, resolve } = Promise.withResolvers<void>();
    let isClosed = false;
    const gone = () => {
      isClosed = true;
      resolve();
    };
    try {
      while (!text.includes("\r\n\r\n")) {
        const n = await conn.read(chunk);
        if (n === null) return gone();
        text += dec.decode(chunk.subarray(0, n));
      }
      const writeBytes = async (b: Uint8Array) => {
        let off = 0;
        while (off < b.length) off += await conn.write(b.subarray(off));
      };
      const c: StallConnection = {
        lines: text.slice(0, text.indexOf("\r\n\r\n")).split("\r\n"),
        write: (piece) => writeBytes(enc.encode(piece)),
        writeBytes,
        end: () => {
          try {
            conn.close();
          } catch { /* closed */ }
        },
        closed,
        get isClosed() {
          return isClosed;
        },
      };
      connections.push(c);
      const script = onRequest(c);
      if (script instanceof Promise) {
        script.catch((e) => {
          if (!isClosed && !leftEarly(e)) throw e;
        });
      }
      // Whatever the client sends next is ignored; its end is the close being watched for.
      while (await conn.read(chunk) !== null) { /* keep reading */ }
      gone();
    } catch {
      gone();
    } finally {
      open.delete(conn);
      try {
        conn.close();
      } catch { /* closed */ }
    }
  };
  (async () => {
    for await (const conn of listener) {
      open.add(conn);
      serve(conn);
    }
  })().catch(() => {});
  const url = `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
  return {
    url,
    origin: new URL(url),
    connections,
    close() {
      try {
        listener.close();
      } catch { /* closed */ }
      for (const c of open) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    },
  };
}

/** The head of a streamed (chunked) 200 answer of type `text/event-stream`. */
export const STREAM_HEAD =
  "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";

/** `text` as one chunk of a chunked body. */
export function chunk(text: string): string {
  return `${enc.encode(text).length.toString(16)}\r\n${text}\r\n`;
}
