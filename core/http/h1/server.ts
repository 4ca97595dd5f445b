/**
 * The HTTP/1.1 listener: accepts connections (TCP, or TLS when a certificate is given), caps
 * how many are open (beyond, an idle one makes room or the new one gets 503), sweeps their deadlines, keeps accepting through descriptor
 * exhaustion (shedding idle connections and backing off), reports a listener that truly
 * failed, and drains on shutdown.
 * @module
 */
import { every, settledWithin, sleep, type Timer } from "../../async/mod.ts";
import type { HttpError } from "../../errors/mod.ts";
import type { Logger } from "../../log/mod.ts";
import { DEFAULT_MAX_CHUNK_LINE_BYTES, DEFAULT_MAX_TRAILER_BYTES } from "./chunked.ts";
import { Connection } from "./connection.ts";
import type { ConnectionContext, ConnectionLimits, TimeoutPhase } from "./context.ts";
import type { RequestHead } from "./head.ts";
import type { RawHandler } from "./raw.ts";
import { refuseConnection } from "./refuse.ts";

/** What the listener reports (metrics live with the caller). */
export interface ListenerEvents {
  /** A connection was refused because `max_connections` were open. */
  refused(): void;
  /** An idle connection was closed to admit a new one at `max_connections`. */
  shed(): void;
  /** A request was refused at the protocol level. */
  protocolError(status: number): void;
  /** A deadline passed. */
  timedOut(phase: TimeoutPhase): void;
  /** accept() failed with a recoverable error (`code`, e.g. EMFILE). */
  acceptError(code: string): void;
}

/** Options for {@linkcode serveHttp1}. */
export interface Http1Options {
  hostname: string;
  port: number;
  /** Sets `SO_REUSEPORT` (several listeners of one service on one port). */
  reusePort?: boolean;
  /**
   * With `reusePort` and a port other than 0: first bind the port without `SO_REUSEPORT` and let
   * it go, so a port any other socket holds throws `AddrInUse` rather than being shared.
   */
  claimPort?: boolean;
  /** PEM certificate and key: serve HTTPS. */
  tls?: { cert: string; key: string };
  limits: ConnectionLimits;
  /** Most connections open at once (0: no cap). */
  maxConnections: number;
  /**
   * Where the open connections are counted when several listeners share the cap (`--workers`:
   * one count for every isolate of the process, in a SharedArrayBuffer); default this one's.
   */
  sharedOpen?: Int32Array;
  log: Logger;
  handle(req: Request): Promise<Response>;
  /** Claims a request for the raw path (see raw.ts); undefined serves it through `handle`. */
  rawRoute?(head: RequestHead): RawHandler | undefined;
  errorResponse(err: HttpError): Response;
  events: ListenerEvents;
}

/** A running listener. */
export interface Http1Server {
  readonly addr: Deno.NetAddr;
  /** Connections open now. */
  readonly open: number;
  /** Resolves with the error if the listener fails for good (never resolves otherwise). */
  readonly failed: Promise<Error>;
  /** Makes new responses close their connection and idle connections close now. */
  beginDrain(): void;
  /** Stops accepting and waits up to `drainMs` for connections to finish; then closes the
   * rest. Resolves true when all finished in time. */
  shutdown(drainMs: number): Promise<boolean>;
}

/** accept() errors about one connection only (its peer reset first): accept the next at once. */
const PEER_GONE = new Set(["ECONNABORTED", "ECONNRESET", "ENOTCONN", "EPROTO"]);
/** accept() errors of a system under pressure: accept again after a backoff. */
const TRANSIENT = new Set(["EPERM", "ENOBUFS", "ENOMEM"]);
/** Backoff after a failed accept: from this... */
const ACCEPT_BACKOFF_MIN_MS = 10;
/** ...up to this. */
const ACCEPT_BACKOFF_MAX_MS = 1_000;
/** At most one "out of descriptors" log line per this interval. */
const EXHAUSTION_LOG_INTERVAL_MS = 5_000;
/**
 * Connections looked at, at most, for an idle one to close when a new one arrives at the cap:
 * the search goes on from where the last one stopped, so a cap held by streams (the relay's
 * subscribers) costs each refused connection this many checks, not one per open connection.
 */
const SHED_SCAN = 512;
/** The sweeper runs at a quarter of the shortest timeout, within these bounds. */
const SWEEP_MIN_MS = 25;
const SWEEP_MAX_MS = 1_000;

/**
 * Listens and serves HTTP/1.1.
 * @throws {Deno.errors.AddrInUse} (and other listen errors) when the address cannot be bound
 */
export function serveHttp1(opts: Http1Options): Http1Server {
  return new Listener(opts);
}

class Listener implements Http1Server, ConnectionContext {
  readonly addr: Deno.NetAddr;
  readonly failed: Promise<Error>;
  readonly limits: ConnectionLimits;
  readonly readCapacity: number;
  readonly scheme: string;
  readonly authority: string;
  draining = false;
  readonly #opts: Http1Options;
  readonly #listener: Deno.Listener;
  readonly #conns = new Set<Connection>();
  readonly #fail = Promise.withResolvers<Error>();
  readonly #stop = new AbortController();
  readonly #sweeper: Timer;
  /** Accepts the next connection (with TCP_NODELAY on plain TCP). */
  readonly #acceptOne: () => Promise<Deno.Conn>;
  #allClosed: PromiseWithResolvers<void> | undefined;
  /** Where the search for an idle connection to shed goes on (a live view of `#conns`). */
  #shedCursor: Iterator<Connection> | undefined;
  #lastExhaustionLog = 0;
  #suppressed = 0;
  readonly #accepting: Promise<void>;

  constructor(opts: Http1Options) {
    this.#opts = opts;
    this.limits = opts.limits;
    this.readCapacity = Math.max(
      opts.limits.maxHeaderBytes,
      DEFAULT_MAX_TRAILER_BYTES,
      DEFAULT_MAX_CHUNK_LINE_BYTES,
    ) + 4096;
    if (opts.reusePort && opts.claimPort && opts.port !== 0) {
      Deno.listen({ hostname: opts.hostname, port: opts.port }).close();
    }
    if (opts.tls) {
      const tls = Deno.listenTls({
        hostname: opts.hostname,
        port: opts.port,
        reusePort: opts.reusePort,
        ...opts.tls,
      });
      this.#listener = tls;
      this.#acceptOne = () => tls.accept();
    } else {
      const tcp = Deno.listen({
        hostname: opts.hostname,
        port: opts.port,
        reusePort: opts.reusePort,
      });
      this.#listener = tcp;
      this.#acceptOne = async () => {
        const c = await tcp.accept();
        try {
          c.setNoDelay(true);
        } catch {
          // The peer reset before we got here (NotConnected): serving it fails on the first
          // read and closes it, as for any client that goes away. Never a listener failure.
        }
        return c;
      };
    }
    this.addr = this.#listener.addr as Deno.NetAddr;
    this.scheme = opts.tls ? "https" : "http";
    const host = this.addr.hostname.includes(":") ? `[${this.addr.hostname}]` : this.addr.hostname;
    this.authority = `${host}:${this.addr.port}`;
    this.failed = this.#fail.promise;
    this.#sweeper = every(sweepInterval(opts.limits), () => this.#sweep());
    this.#accepting = this.#acceptLoop();
  }

  get open(): number {
    return this.#conns.size;
  }

  handle(req: Request): Promise<Response> {
    return this.#opts.handle(req);
  }

  rawRoute(head: RequestHead): RawHandler | undefined {
    return this.#opts.rawRoute?.(head);
  }

  errorResponse(err: HttpError): Response {
    return this.#opts.errorResponse(err);
  }

  protocolError(status: number): void {
    this.#opts.events.protocolError(status);
  }

  timedOut(phase: TimeoutPhase): void {
    this.#opts.events.timedOut(phase);
  }

  connectionError(err: unknown): void {
    if (isClientGone(err)) return;
    this.#opts.log.warn("connection failed", { err });
  }

  closed(conn: Connection): void {
    if (this.#conns.delete(conn) && this.#opts.sharedOpen) Atomics.sub(this.#opts.sharedOpen, 0, 1);
    if (this.#conns.size === 0) this.#allClosed?.resolve();
  }

  async #acceptLoop(): Promise<void> {
    let failures = 0;
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await this.#acceptOne();
        failures = 0;
      } catch (err) {
        if (this.#stop.signal.aborted) return;
        const code = errorCode(err);
        if (PEER_GONE.has(code)) {
          // Deno's accept() fails with ENOTCONN when the peer reset before getpeername: a
          // storm of such clients must neither stop nor slow the accept loop.
          this.#opts.events.acceptError(code);
          continue;
        }
        if (code === "EMFILE" || code === "ENFILE") this.#exhausted(code);
        else if (TRANSIENT.has(code)) this.#opts.events.acceptError(code);
        else {
          this.#opts.log.error("listener failed", { err });
          this.#fail.resolve(new Error("listener failed", { cause: err }));
          return;
        }
        // Waits before accepting again, or until shutdown.
        const backoff = Math.min(ACCEPT_BACKOFF_MAX_MS, ACCEPT_BACKOFF_MIN_MS * 2 ** failures++);
        await sleep(backoff, this.#stop.signal);
        continue;
      }
      const max = this.#opts.maxConnections;
      const shared = this.#opts.sharedOpen;
      // Counted before the check: listeners sharing the count never admit more than the cap.
      const open = shared ? Atomics.add(shared, 0, 1) : this.#conns.size;
      if (max > 0 && open >= max && !this.#shedIdle()) {
        if (shared) Atomics.sub(shared, 0, 1);
        this.#opts.events.refused();
        refuseConnection(conn, this.#opts.errorResponse);
        continue;
      }
      this.#serve(conn);
    }
  }

  #serve(conn: Deno.Conn): void {
    const c = new Connection(conn, this);
    this.#conns.add(c);
    c.serve();
  }

  /**
   * At the cap: closes one connection with nothing of a request under way (connected and
   * silent, or a keep-alive waiting for its next request), the oldest found first, so that the
   * new one is served in its place; false when none was found (the new one is refused). A flood
   * of connections that send nothing then closes its own connections, not the service for its
   * clients. The one closed still counts until its close completes: for that moment the open
   * connections are one over the cap.
   */
  #shedIdle(): boolean {
    if (this.draining) return false;
    for (let looked = 0, restarted = false; looked < SHED_SCAN;) {
      const next = (this.#shedCursor ??= this.#conns.values()).next();
      if (next.done) {
        this.#shedCursor = undefined;
        if (restarted) return false; // every connection looked at: none is idle
        restarted = true;
        continue;
      }
      looked++;
      const c = next.value;
      if (c.idle) {
        c.close();
        this.#opts.events.shed();
        return true;
      }
    }
    return false;
  }

  /** Out of descriptors: log (rate-limited) and close idle connections to free some. */
  #exhausted(code: string): void {
    this.#opts.events.acceptError(code);
    let shed = 0;
    const want = Math.max(1, Math.ceil(this.#conns.size / 10));
    for (const c of this.#conns) {
      if (shed >= want) break;
      if (c.idle) {
        c.close();
        shed++;
      }
    }
    const now = Date.now();
    if (now - this.#lastExhaustionLog < EXHAUSTION_LOG_INTERVAL_MS) {
      this.#suppressed++;
      return;
    }
    this.#lastExhaustionLog = now;
    this.#opts.log.error("out of file descriptors; shedding idle connections", {
      code,
      open_connections: this.#conns.size,
      shed,
      suppressed: this.#suppressed,
    });
    this.#suppressed = 0;
  }

  #sweep(): void {
    const now = Date.now();
    for (const c of this.#conns) {
      if (
        (c.deadline !== 0 && now >= c.deadline) || (c.bodyDeadline !== 0 && now >= c.bodyDeadline)
      ) {
        c.expire(now);
      }
    }
  }

  beginDrain(): void {
    this.draining = true;
    for (const c of this.#conns) if (c.idle) c.close();
  }

  async shutdown(drainMs: number): Promise<boolean> {
    this.beginDrain();
    this.#stop.abort();
    try {
      this.#listener.close();
    } catch { /* already closed */ }
    await this.#accepting;
    let finished = true;
    if (this.#conns.size > 0) {
      this.#allClosed = Promise.withResolvers();
      finished = await settledWithin(this.#allClosed.promise, drainMs);
      for (const c of this.#conns) c.close();
    }
    this.#sweeper.cancel();
    return finished;
  }
}

function sweepInterval(l: ConnectionLimits): number {
  const timeouts = [l.headerTimeoutMs, l.bodyTimeoutMs, l.idleTimeoutMs].filter((t) => t > 0);
  const shortest = timeouts.length > 0 ? Math.min(...timeouts) : SWEEP_MAX_MS * 4;
  return Math.min(SWEEP_MAX_MS, Math.max(SWEEP_MIN_MS, Math.floor(shortest / 4)));
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "";
}

/** Errors that only mean the client went away. */
function isClientGone(err: unknown): boolean {
  return err instanceof Deno.errors.BrokenPipe || err instanceof Deno.errors.ConnectionReset ||
    err instanceof Deno.errors.BadResource || err instanceof Deno.errors.Interrupted ||
    err instanceof Deno.errors.ConnectionAborted || err instanceof Deno.errors.NotConnected ||
    (err instanceof Error && /tls|certificate|handshake/i.test(err.message));
}
