/**
 * A bound on what one NATS server can make this process hold. The client keeps the protocol line
 * it is reading (INFO, a message's `MSG`/`HMSG` line, `-ERR`) in a buffer that grows until the
 * line ends, so a server (or anything between it and this process) sending a line that never ends
 * grew it without bound and kept the process busy copying it; a line the client's parser refuses
 * (garbage, a message over its 64 MiB) stopped the connection's reader while the connection
 * stayed open, so nothing more was read until the server was given up for stale minutes later.
 * The transport made here checks the framing of what the server sends before the client parses
 * it: a line longer than `nats.max_control_line`, a message over 64 MiB or a line that is not
 * NATS protocol closes the connection, which the client then makes again with backoff.
 * @module
 */
import type { ConnectionOptions } from "@nats-io/transport-node";
import type { NodeTransport } from "@nats-io/transport-node/lib/node_transport.js";

/** The client's own bound on one message (headers and payload); its parser refuses larger. */
export const NATS_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

const NL = 10;
const CR = 13;
const SPACE = 32;
const TAB = 9;

/** The operations a server sends, upper-cased ASCII; anything else is not NATS protocol. */
const SERVER_OPS = ["MSG", "HMSG", "INFO", "PING", "PONG", "+OK", "-ERR"].map((op) =>
  Uint8Array.from(op, (c) => c.charCodeAt(0))
);
/** Index in {@linkcode SERVER_OPS} of the two operations a message follows. */
const OP_MSG = 0;
const OP_HMSG = 1;
/** A message size has at most this many digits (the client's own parser reads no more). */
const MAX_SIZE_DIGITS = 15;

/** The index in {@linkcode SERVER_OPS} of `line[from, to)`, ASCII letters in either case; -1. */
function opOf(line: Uint8Array, from: number, to: number): number {
  next: for (let k = 0; k < SERVER_OPS.length; k++) {
    const op = SERVER_OPS[k];
    if (op.length !== to - from) continue;
    for (let j = 0; j < op.length; j++) {
      const b = line[from + j];
      if ((b >= 97 && b <= 122 ? b - 32 : b) !== op[j]) continue next;
    }
    return k;
  }
  return -1;
}

/**
 * The bytes of `frame` before the CRLF that ends a line (all of them when none does); `lastCr`
 * says the frame before ended with CR.
 */
function lineEnd(frame: Uint8Array, lastCr: boolean): number {
  for (let i = frame.indexOf(NL); i >= 0; i = frame.indexOf(NL, i + 1)) {
    if (i > 0 ? frame[i - 1] === CR : lastCr) return i;
  }
  return frame.length;
}

/**
 * Follows the framing of a server's byte stream (lines, and the messages whose sizes they give)
 * and says when it breaks a bound or the protocol. The reason names sizes only, never the
 * server's bytes. A line is read on its bytes where it lies in the chunk (no copy, no decoding):
 * its words are separated by spaces and tabs, as the client separates them; only a line cut
 * between two chunks is copied, at most `maxLine` bytes of it.
 * @example
 * ```ts
 * const g = new ProtocolGuard(4096);
 * g.check(new TextEncoder().encode("MSG a 1 3\r\nabc\r\nPING\r\n")); // undefined
 * ```
 */
export class ProtocolGuard {
  /** The start of a line cut at the end of earlier chunks (copied). */
  #line: Uint8Array[] = [];
  #lineBytes = 0;
  /** Bytes of the current message (with the CRLF after it) still to come. */
  #message = 0;

  constructor(readonly maxLine: number) {}

  /** Checks the next chunk; returns why the connection must close, or undefined. */
  check(chunk: Uint8Array): string | undefined {
    let i = 0;
    while (i < chunk.length) {
      if (this.#message > 0) {
        const n = Math.min(this.#message, chunk.length - i);
        this.#message -= n;
        i += n;
        continue;
      }
      const nl = chunk.indexOf(NL, i);
      const end = nl < 0 ? chunk.length : nl;
      this.#lineBytes += end - i;
      if (this.#lineBytes > this.maxLine) {
        return `a protocol line longer than ${this.maxLine} bytes (nats.max_control_line)`;
      }
      if (nl < 0) {
        this.#line.push(chunk.slice(i, end));
        return undefined;
      }
      let why: string | undefined;
      if (this.#line.length === 0) {
        why = this.#endLine(chunk, i, end);
      } else {
        this.#line.push(chunk.subarray(i, end));
        const line = new Uint8Array(this.#lineBytes);
        let o = 0;
        for (const part of this.#line) {
          line.set(part, o);
          o += part.length;
        }
        this.#line = [];
        why = this.#endLine(line, 0, line.length);
      }
      this.#lineBytes = 0;
      if (why) return why;
      i = nl + 1;
    }
    return undefined;
  }

  /** Checks the line `buf[from, to)` (its LF left out) and starts the message it announces. */
  #endLine(buf: Uint8Array, from: number, to: number): string | undefined {
    if (to > from && buf[to - 1] === CR) to--;
    // The words: the first (the operation), how many, and where the last one lies.
    let words = 0;
    let opEnd = from;
    let lastStart = from;
    let lastEnd = from;
    let j = from;
    while (j < to) {
      while (j < to && (buf[j] === SPACE || buf[j] === TAB)) j++;
      if (j === to) break;
      const start = j;
      while (j < to && buf[j] !== SPACE && buf[j] !== TAB) j++;
      if (words++ === 0) opEnd = j;
      lastStart = start;
      lastEnd = j;
    }
    if (words === 0) return "a line that is not NATS protocol";
    let opStart = from;
    while (buf[opStart] === SPACE || buf[opStart] === TAB) opStart++;
    const op = opOf(buf, opStart, opEnd);
    if (op < 0) return "a line that is not NATS protocol";
    if (op !== OP_MSG && op !== OP_HMSG) return undefined;
    const name = op === OP_MSG ? "MSG" : "HMSG";
    const digits = lastEnd - lastStart;
    if (words < (op === OP_MSG ? 4 : 5) || digits > MAX_SIZE_DIGITS) {
      return `a ${name} line without its size`;
    }
    let size = 0;
    for (let k = lastStart; k < lastEnd; k++) {
      const d = buf[k] - 48;
      if (d < 0 || d > 9) return `a ${name} line without its size`;
      size = size * 10 + d;
    }
    if (size > NATS_MAX_MESSAGE_BYTES) {
      const text = String.fromCharCode(...buf.subarray(lastStart, lastEnd));
      return `a message of ${text} bytes (at most ${NATS_MAX_MESSAGE_BYTES} are taken)`;
    }
    this.#message = size + 2;
    return undefined;
  }
}

/** The bound and the report of one connection, carried in its options to its transports. */
export interface GuardOptions {
  maxControlLine: number;
  /** Called with the reason each time a server's connection is closed for it. */
  onRefused(why: string): void;
}

/** Where a connection's options carry its {@linkcode GuardOptions} (the client copies keys). */
const GUARD_KEY = "iatpProtocolGuard";

/** `opts` with `guard` for the transports of the connection made from them. */
export function withGuard(opts: ConnectionOptions, guard: GuardOptions): ConnectionOptions {
  return { ...opts, [GUARD_KEY]: guard } as ConnectionOptions;
}

/** A server's protocol broke a bound: its connection is closed (and made again). */
export class NatsProtocolError extends Error {
  override name = "NatsProtocolError";
}

/** The guard options a transport was given, if any. */
function guardOf(t: NodeTransport): GuardOptions | undefined {
  return (t.options as unknown as Record<string, GuardOptions | undefined> | undefined)?.[
    GUARD_KEY
  ];
}

/**
 * A transport class checking what the server sends (see the module): the INFO the client reads
 * while connecting, then every frame before the client parses it. Connections made without
 * {@linkcode withGuard} options are not checked. With TLS settings, it also checks the server's
 * certificate against the host it dials, an IP address included.
 */
export function guardedTransport(base: typeof NodeTransport): typeof NodeTransport {
  return class GuardedTransport extends base {
    #host = "";

    override connect(
      hp: { hostname: string; port: number; tlsName: string },
      options: Parameters<NodeTransport["connect"]>[1],
    ): Promise<void> {
      this.#host = hp.hostname;
      return super.connect(hp, options);
    }

    override startTLS() {
      // The host a server's certificate is checked against: the client gives no server name
      // for an IP address, and the check then named "localhost", refusing a certificate made
      // for the address the URL names. Set here, once the server asked for TLS or the settings
      // did (TLS options given earlier would make a server without TLS refused).
      const tls = this.options.tls;
      if (
        tls !== null && (tls === undefined || typeof tls === "object") && !(tls && "host" in tls)
      ) {
        this.options = { ...this.options, tls: { ...tls, host: this.#host } as typeof tls };
      }
      return super.startTLS();
    }

    override peekInfo() {
      const guard = guardOf(this);
      const socket = this.socket;
      if (guard && socket) {
        // Runs before the client's own listener, which concatenates every frame until the
        // INFO line ends with CRLF (and removes both listeners once it has): a bare LF ends
        // nothing there, so the bytes counted are those up to the first CRLF.
        let bytes = 0;
        let lastCr = false;
        socket.on("data", (frame: Uint8Array) => {
          bytes += lineEnd(frame, lastCr);
          lastCr = frame.length > 0 ? frame[frame.length - 1] === CR : lastCr;
          if (bytes > guard.maxControlLine) {
            const why = `a protocol line longer than ${guard.maxControlLine} bytes ` +
              "(nats.max_control_line)";
            guard.onRefused(why);
            socket.destroy(new NatsProtocolError(`the server sent ${why}`));
          }
        });
      }
      return super.peekInfo();
    }

    override async *iterate(): AsyncIterableIterator<Uint8Array> {
      const guard = guardOf(this);
      const check = guard ? new ProtocolGuard(guard.maxControlLine) : undefined;
      for await (const frame of super.iterate()) {
        const why = check?.check(frame);
        if (why !== undefined) {
          guard!.onRefused(why);
          await this.close(new NatsProtocolError(`the server sent ${why}`));
          return;
        }
        yield frame;
      }
    }
  };
}
