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

/** The operations a server sends; anything else is not NATS protocol. */
const SERVER_OPS = new Set(["MSG", "HMSG", "INFO", "PING", "PONG", "+OK", "-ERR"]);
const NL = 10;
const CR = 13;

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
const latin1 = new TextDecoder("latin1");

/**
 * Follows the framing of a server's byte stream (lines, and the messages whose sizes they give)
 * and says when it breaks a bound or the protocol. The reason names sizes only, never the
 * server's bytes.
 * @example
 * ```ts
 * const g = new ProtocolGuard(4096);
 * g.check(new TextEncoder().encode("MSG a 1 3\r\nabc\r\nPING\r\n")); // undefined
 * ```
 */
export class ProtocolGuard {
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
      this.#line.push(chunk.slice(i, end));
      if (nl < 0) return undefined;
      const why = this.#endLine();
      if (why) return why;
      i = nl + 1;
    }
    return undefined;
  }

  #endLine(): string | undefined {
    const text = this.#line.map((b) => latin1.decode(b)).join("").replace(/\r$/, "");
    this.#line = [];
    this.#lineBytes = 0;
    const args = text.split(/[ \t]+/).filter((a) => a !== "");
    const op = (args[0] ?? "").toUpperCase();
    if (!SERVER_OPS.has(op)) return "a line that is not NATS protocol";
    if (op !== "MSG" && op !== "HMSG") return undefined;
    const size = args.length >= (op === "MSG" ? 4 : 5) ? args[args.length - 1] : "";
    if (!/^[0-9]{1,15}$/.test(size)) return `a ${op} line without its size`;
    if (Number(size) > NATS_MAX_MESSAGE_BYTES) {
      return `a message of ${size} bytes (at most ${NATS_MAX_MESSAGE_BYTES} are taken)`;
    }
    this.#message = Number(size) + 2;
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
