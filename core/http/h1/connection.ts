/**
 * One HTTP/1.1 connection: reads heads within the header deadline, serves requests one after
 * another (pipelined requests in order), keeps the connection alive between them within the
 * idle deadline, and closes it after anything it cannot frame. Deadlines are checked by the
 * server's sweeper through {@linkcode Connection.expire}, so the hot path sets no timers. The
 * request body's side (framing, lent buffer, `100 Continue`, body deadline) is its base,
 * {@linkcode ConnectionBody}.
 * @module
 */
import { HttpError } from "../../errors/mod.ts";
import { headEnd, headText } from "./bytes.ts";
import { HeadMemo, parseRequestHead, type RequestHead } from "./head.ts";
import { ConnectionBody } from "./connection_body.ts";
import { EdgeRequest } from "./request.ts";
import { ConnectionRequest, type RawResponse } from "./raw.ts";
import { SocketPush } from "./push.ts";
import { NO_HOOKS, type ResponseHooks, sendRaw, sendResponse } from "./response.ts";
import type { ConnectionContext } from "./context.ts";
import { isResponse } from "./web_classes.ts";

/** Where a connection is in its life; each phase has its own deadline. */
export type Phase = "idle" | "head" | "handler" | "write" | "stream" | "linger" | "closed";

/** After closing its write side, how long a connection drains what the client still sends. */
const LINGER_MS = 2_000;
/** And how many bytes it reads (and drops) at most while doing so. */
const LINGER_BYTES = 256 * 1024;

/** One accepted connection. */
export class Connection extends ConnectionBody implements ResponseHooks {
  phase: Phase = "head";
  /** When the current phase times out (ms since the epoch); 0 for never. */
  deadline = 0;
  readonly #conn: Deno.Conn;
  #requests = 0;
  #closed = false;
  #request: EdgeRequest | undefined;
  #stream: ReadableStreamDefaultReader<Uint8Array> | undefined;
  #push: SocketPush | undefined;
  /** When a pushed body cut short must have ended, or the connection closes (0: no such bound). */
  #cutBy = 0;
  /** The pushed body whose end resumes the connection (serve returned meanwhile). */
  #handedOver: SocketPush | undefined;
  /** How the pushed body ended, when it did before `serve` got its sink back. */
  #endedEarly: { failure?: { error: unknown } } | undefined;
  /** The raw handler serving the current request checked its answer's header pairs. */
  #checked = false;
  /** Read ahead into the reader's small probe (GET and HEAD: the ones that may stream long). */
  #leanWatch = false;
  /** The last head parsed, to parse it once when the client sends the same one again. */
  readonly #heads = new HeadMemo();

  constructor(conn: Deno.Conn, ctx: ConnectionContext) {
    super(conn, ctx);
    this.#conn = conn;
    this.#arm("head", ctx.limits.headerTimeoutMs);
  }

  /** True when nothing of a request is under way (the connection may be closed at once). */
  get idle(): boolean {
    return this.phase === "idle" || (this.phase === "head" && this.reader.received === 0);
  }

  /**
   * Serves requests until the connection ends. Never rejects. Heads are read here rather than
   * in a function of their own, so a request costs no promise and no suspended frame for it.
   * While a body is pushed (an SSE stream may last for days) nothing of this loop waits: the
   * sink's end resumes it.
   */
  async serve(): Promise<void> {
    let linger = false;
    const r = this.reader;
    try {
      for (;;) {
        this.#awaitHead();
        let head = this.#bufferedHead(0);
        while (head === undefined) {
          const scanned = r.buffered;
          if (!await r.more()) break;
          head = this.#bufferedHead(scanned);
        }
        if (head === undefined) {
          if (this.#closed || r.buffered === 0 || r.error !== undefined) break;
          throw new HttpError(400, "connection closed before the end of the request head");
        }
        // Each step awaited here: no suspended frame of its own per request. The answer is let go
        // once sent: this frame, suspended while the connection idles, keeps whatever its
        // registers last held, and an idle keep-alive connection would otherwise hold its last
        // answer (head fields, body) until its next request, long enough to be copied into the
        // old generation and collected only by a full collection.
        let res: Response | RawResponse | undefined = await this.#start(head);
        let more: boolean | SocketPush = false;
        if (this.#closed) this.giveBackLease();
        else {
          let sending: Promise<boolean> | undefined = this.#respond(head, res);
          // The request's lent body buffer goes back after the answer's (a small answer's body
          // was copied out, its buffer given back): each request then takes the same pooled
          // buffers for the same parts, whose views are kept (the body's by the scan, the lent
          // buffers' own) instead of made anew.
          this.giveBackLease();
          res = undefined;
          const keep = await sending;
          sending = undefined;
          more = this.#sent(keep);
        }
        if (more instanceof SocketPush) {
          // Nothing waits while it streams: pushEnded resumes (now, when it already ended).
          this.#handedOver = more;
          const early = this.#endedEarly;
          this.#endedEarly = undefined;
          if (early !== undefined) this.pushEnded(more, early.failure);
          return;
        }
        if (!more) {
          linger = !this.bodyComplete;
          break;
        }
      }
    } catch (err) {
      return await this.#failed(err);
    }
    await this.#finish(linger);
  }

  /**
   * A pushed body ended: the next request, or the end of the connection. When it ended before
   * `serve` got the sink back, `serve` goes on from there itself.
   */
  pushEnded(sink: SocketPush, failure?: { error: unknown }): void {
    if (this.#handedOver !== sink) {
      this.#endedEarly = { failure };
      return;
    }
    this.#handedOver = undefined;
    this.#push = undefined;
    this.#cutBy = 0;
    if (failure) this.#failed(failure.error);
    else if (this.#mayContinue(sink)) this.serve();
    else this.#finish(!this.bodyComplete);
  }

  /** Whether the connection may carry another request after a pushed body. */
  #mayContinue(sink: SocketPush): boolean {
    return sink.keepAlive && !this.#closed && !this.reader.eof && !this.ctx.draining;
  }

  /** Ends the connection after a failure: a refusal when it is one and can still be sent. */
  async #failed(err: unknown): Promise<void> {
    let linger = false;
    if (err instanceof HttpError && !this.#closed) {
      await this.#refuse(err);
      linger = true;
    } else if (!(err instanceof HttpError)) {
      this.ctx.connectionError(err);
    }
    await this.#finish(linger);
  }

  /** Called by the sweeper: acts on a passed deadline. */
  expire(now: number): void {
    this.expireBody(now);
    if (this.deadline === 0 || now < this.deadline) return;
    this.deadline = 0;
    const phase = this.phase;
    if (phase === "head" && this.reader.received > 0) {
      this.ctx.timedOut("head");
      this.#refuse(new HttpError(408, "request head not received in time")).finally(() =>
        this.close()
      );
      return;
    }
    if (phase === "idle" || phase === "head" || phase === "write") this.ctx.timedOut(phase);
    else if (phase === "stream") this.ctx.timedOut("write"); // a pushed body's write stalled
    this.close();
  }

  /** Closes the socket now (idempotent); whatever is pending ends. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.phase = "closed";
    this.deadline = 0;
    this.bodyDeadline = 0;
    this.#request?.disconnect();
    this.#stream?.cancel().catch(() => {});
    this.#push?.cancel("error");
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }

  /** Sets the phase and its deadline; returns the clock read for it (0: none was). */
  #arm(phase: Phase, timeoutMs: number): number {
    this.phase = phase;
    if (timeoutMs <= 0) {
      this.deadline = 0;
      return 0;
    }
    const now = Date.now();
    this.deadline = now + timeoutMs;
    return now;
  }

  /** Arms the deadline of the wait for the next head (the first one's runs from accept). */
  #awaitHead(): void {
    if (this.#requests === 0) return;
    const limits = this.ctx.limits;
    if (this.reader.buffered > 0) this.#arm("head", limits.headerTimeoutMs);
    else this.#arm("idle", limits.idleTimeoutMs);
  }

  /**
   * The next request head when the buffer holds all of it, else undefined (read more and call
   * again with `scanned`, the bytes already searched for its end).
   * @throws {HttpError} when the head is too large or does not parse
   */
  #bufferedHead(scanned: number): RequestHead | undefined {
    const r = this.reader;
    const limits = this.ctx.limits;
    while (r.buffered >= 2 && r.buf[r.start] === 13 && r.buf[r.start + 1] === 10) r.consume(2);
    // The client's last head again (the usual keep-alive request): its end is known.
    const same = this.#heads.repeated(r.buf, r.start, r.end, r.view);
    if (same !== undefined) {
      r.consume(this.#heads.length);
      this.#arm("handler", 0);
      return same;
    }
    const end = headEnd(r.buf, r.start, r.start + Math.max(0, scanned - 3), r.end);
    if (end < 0) {
      if (r.buffered > limits.maxHeaderBytes) throw this.#headTooLarge();
      // The head deadline runs from its first bytes; a head that arrived whole never waits on
      // it (no clock read for it).
      if (this.phase === "idle" && r.buffered > 0) this.#arm("head", limits.headerTimeoutMs);
      return undefined;
    }
    if (end - r.start > limits.maxHeaderBytes) throw this.#headTooLarge();
    const text = headText(r.buf, r.start, end);
    this.#heads.hold(r.buf, r.start, end);
    r.consume(end - r.start);
    this.#arm("handler", 0);
    return this.#heads.keep(parseRequestHead(text, limits));
  }

  #headTooLarge(): HttpError {
    const r = this.reader;
    const limits = this.ctx.limits;
    const firstLine = r.buf.subarray(r.start, r.end).indexOf(10);
    const lineBytes = firstLine < 0 ? r.buffered : firstLine;
    if (lineBytes > limits.maxUrlBytes) {
      // A request line that long is a long request-target, or a method longer than any this
      // service implements (501, RFC 9112 section 3): no space yet, or more bytes before it
      // than after it.
      const sp = r.buf.subarray(r.start, r.start + lineBytes).indexOf(32);
      if (sp < 0 || sp > lineBytes - sp) {
        return new HttpError(501, "method not supported: longer than any this service serves");
      }
      return new HttpError(414, `request-target longer than ${limits.maxUrlBytes} bytes`, {
        limit_bytes: limits.maxUrlBytes,
      });
    }
    return new HttpError(431, `request head larger than ${limits.maxHeaderBytes} bytes`, {
      limit_bytes: limits.maxHeaderBytes,
    });
  }

  /**
   * Starts serving one request: its answer once the handler (a raw route, or the app) has it
   * (at once when a raw route answered at once).
   * @throws {HttpError} 400 when no fetch Request can be made of the head
   */
  #start(head: RequestHead): RawResponse | Promise<Response | RawResponse> {
    this.#requests++;
    this.#leanWatch = head.method === "GET" || head.method === "HEAD";
    const raw = this.ctx.rawRoute(head);
    this.#checked = raw?.checksHeaders === true;
    if (raw) {
      const req = new ConnectionRequest(head, this.frameBody(head, raw.leasesBody === true));
      if (this.bodyComplete) this.watch();
      return raw.serve(req);
    }
    const req = this.#requestOf(head);
    this.#request = req;
    if (this.bodyComplete) this.watch();
    return this.ctx.handle(req);
  }

  /**
   * Sends the answer to `head`; resolves whether the writer would keep the connection open
   * (what it then goes on with is `#sent`'s answer).
   */
  #respond(head: RequestHead, res: Response | RawResponse): Promise<boolean> {
    const keepAlive = head.keepAlive && !this.ctx.draining && this.settleBody();
    // The write deadline's clock reading also dates the answer.
    const now = this.#arm("write", this.ctx.limits.idleTimeoutMs);
    const framing = {
      head: head.method === "HEAD",
      minor: head.minor,
      keepAlive,
      now: now > 0 ? now : undefined,
    };
    return isResponse(res)
      ? sendResponse(this.writer, res, framing, this)
      : sendRaw(this.writer, res, framing, this, this.#checked);
  }

  /**
   * After an answer was sent (or its pushed body started): whether the connection may carry
   * another request, or the sink of a body it goes on pushing.
   */
  #sent(keep: boolean): boolean | SocketPush {
    if (this.#push) return this.#push;
    this.#stream = undefined;
    this.#request = undefined;
    return keep && !this.#closed && !this.reader.eof && !this.ctx.draining;
  }

  /** The response body streams: no deadline from now on; EOF from the client cancels it. */
  streaming(reader: ReadableStreamDefaultReader<Uint8Array>): void {
    this.#stream = reader;
    this.#arm("stream", 0);
    this.#watchBody();
  }

  /**
   * The body is pushed straight onto the socket: no deadline but the stall of a write, EOF
   * from the client cancels it, and the request, the read buffer and the remembered head are let
   * go meanwhile.
   */
  pushing(sink: SocketPush): void {
    this.#push = sink;
    this.#request = undefined;
    this.#arm("stream", 0);
    this.writing(sink.backlog > 0); // the head's write is under way
    this.reader.release();
    this.#heads.forget();
    this.#watchBody();
  }

  /**
   * A body starts streaming. A client that left while the handler ran (its end was read when
   * there was no body yet to end) ends it now; otherwise a read-ahead is kept in flight, since
   * one that found bytes before the body started was not renewed.
   */
  #watchBody(): void {
    if (this.reader.eof) queueMicrotask(this.#clientGone);
    else if (this.bodyComplete) this.watch();
  }

  /** A pushed body's write started (its stall deadline runs) or its queue drained. */
  writing(active: boolean): void {
    if (this.phase !== "stream") return;
    const stallMs = this.ctx.limits.idleTimeoutMs;
    this.deadline = active && stallMs > 0 ? Date.now() + stallMs : 0;
    const by = this.#cutBy;
    if (by > 0) this.deadline = this.deadline === 0 ? by : Math.min(this.deadline, by);
  }

  /** A pushed body was cut short: closed in `waitMs` unless its last write was taken by then. */
  closeWithin(waitMs: number): void {
    if (this.phase !== "stream") return;
    this.#cutBy = Date.now() + Math.max(0, waitMs);
    this.writing(true);
  }

  /** Builds the Request, with its body bounded and framed by the head. */
  #requestOf(head: RequestHead): EdgeRequest {
    const body = this.bodyOf(head);
    try {
      return new EdgeRequest(this.#urlOf(head), head.method, head.headers, body, head.target);
    } catch (err) {
      throw new HttpError(400, "invalid request", {}, { cause: err });
    }
  }

  #urlOf(head: RequestHead): string {
    const t = head.target;
    if (t.charCodeAt(0) === 47) {
      return `${this.ctx.scheme}://${head.host || this.ctx.authority}${t}`;
    }
    if (t === "*") return `${this.ctx.scheme}://${head.host || this.ctx.authority}/*`;
    return t; // absolute-form
  }

  /** Reads ahead while the handler runs, to notice a client that went away. */
  protected watch(): void {
    const r = this.reader;
    if (r.reading || r.eof || this.#closed) return;
    const read = this.#leanWatch ? r.watch() : r.more();
    // Told by the reader as the read ends (no promise reaction of its own); a read that could
    // not start (the buffer full) resolved at once.
    if (r.reading) r.onEnd = this.#watched;
    else read.then(this.#watched);
  }

  /**
   * What a read-ahead found: the client gone (abort, cancel a stream), or more bytes. A client
   * that fills the read buffer while a body streams to it is cut off: nothing reads those bytes
   * before the body ends, and with the buffer full its leaving could no longer be noticed.
   */
  readonly #watched = (ok: boolean): void => {
    if (ok) {
      if (this.phase === "stream") this.watch();
      return;
    }
    // A client gone is acted on one turn of the microtask queue later, where a reaction to the
    // read's promise would act: a handler that has not reached its wait for the request's signal
    // yet (a few microtasks from its start) still sees the abort as an event.
    queueMicrotask(this.#clientGone);
  };

  /** What a read-ahead that found the end of the stream (or failed) means for the request. */
  readonly #clientGone = (): void => {
    if (this.reader.eof) {
      this.#request?.disconnect();
      this.#stream?.cancel().catch(() => {});
      this.#push?.cancel("client");
    } else if (this.phase === "stream" && this.reader.full) this.close();
  };

  /** Answers a request the connection cannot serve, then the connection closes. */
  async #refuse(err: HttpError): Promise<void> {
    this.ctx.protocolError(err.status);
    const res = this.ctx.errorResponse(err);
    try {
      const framing = { head: false, minor: 1, keepAlive: false };
      await sendResponse(this.writer, res, framing, NO_HOOKS);
    } catch { /* the client is gone */ }
  }

  /** Ends the connection, draining what the client still sends when asked to. */
  async #finish(linger: boolean): Promise<void> {
    if (linger && !this.#closed && !this.reader.eof) {
      try {
        await this.#conn.closeWrite();
        this.#arm("linger", LINGER_MS);
        const r = this.reader;
        let dropped = 0;
        while (dropped < LINGER_BYTES && !this.#closed) {
          r.consume(r.buffered);
          if (!await r.more()) break;
          dropped += r.buffered;
        }
      } catch { /* closed meanwhile */ }
    }
    this.close();
    this.ctx.closed(this);
  }
}
