/**
 * The request-body side of one HTTP/1.1 connection: frames each request's body (bytes already
 * buffered, copied into a lent buffer or an array of their own, else a bounded stream), sends
 * `100 Continue` before the first read, and keeps the body deadline. A base of
 * `Connection` rather than an object beside it, so a request reaches this state with
 * no extra object or load.
 * @module
 */
import { RequestBody } from "./body.ts";
import type { RequestHead } from "./head.ts";
import { giveBackLease, LEASE_BYTES, leaseView, takeLease } from "../lease/mod.ts";
import { SocketReader } from "./reader.ts";
import { SocketWriter } from "./response.ts";
import type { ConnectionContext } from "./context.ts";

const CONTINUE = new TextEncoder().encode("HTTP/1.1 100 Continue\r\n\r\n");

/** The body framing, lent buffer, `100 Continue` and body deadline of a `Connection`. */
export abstract class ConnectionBody {
  /** When the request body must have arrived; 0 for no body being read. */
  bodyDeadline = 0;
  readonly reader: SocketReader;
  /** Whether the current request's body was read to its end (or there was none). */
  protected bodyComplete = true;
  protected readonly writer: SocketWriter;
  protected readonly ctx: ConnectionContext;
  #body: RequestBody | undefined;
  /** The buffer lent for the current request's body (given back once its answer resolved). */
  #lent: Uint8Array<ArrayBuffer> | undefined;
  #continue: "no" | "due" | "sent" = "no";
  #bodyExpired: PromiseWithResolvers<void> | undefined;

  protected constructor(conn: Deno.Conn, ctx: ConnectionContext) {
    this.ctx = ctx;
    this.reader = new SocketReader(conn, ctx.readCapacity);
    this.writer = new SocketWriter(conn);
  }

  /** Reads ahead while the handler runs, to notice a client that went away. */
  protected abstract watch(): void;

  /** Acts on a passed body deadline: reported, and the body's pending read fails with 408. */
  protected expireBody(now: number): void {
    if (this.bodyDeadline === 0 || now < this.bodyDeadline) return;
    this.bodyDeadline = 0;
    this.ctx.timedOut("body");
    (this.#bodyExpired ??= Promise.withResolvers()).resolve();
  }

  /** The body to hand the Request: bytes when already here, else a bounded stream. */
  protected bodyOf(head: RequestHead): BodyInit | null {
    const body = this.frameBody(head);
    if (body === null || head.method === "GET" || head.method === "HEAD") return null;
    return body instanceof Uint8Array ? body : new ReadableStream(body, { highWaterMark: 0 });
  }

  /** The handler's answer resolved: the lent body buffer (if any) may serve another request. */
  protected giveBackLease(): void {
    const lent = this.#lent;
    if (lent === undefined) return;
    this.#lent = undefined;
    giveBackLease(lent);
  }

  /**
   * Frames the request body: null when there is none, its bytes when all of them are already
   * buffered (and within the limit), else a reader bounded by the limit and the body deadline.
   * `lend`: buffered bytes may sit in a lent buffer (the handler reads them only until its answer
   * resolves).
   */
  protected frameBody(
    head: RequestHead,
    lend = false,
  ): Uint8Array<ArrayBuffer> | RequestBody | null {
    this.#body = undefined;
    this.#lent = undefined;
    this.#continue = "no";
    const n = head.contentLength;
    const r = this.reader;
    const noBodyMethod = head.method === "GET" || head.method === "HEAD";
    if (n === 0) {
      this.bodyComplete = true;
      return null;
    }
    if (n > 0 && n <= r.buffered && n <= this.ctx.limits.maxBodyBytes) {
      // A copy (the read buffer is read into again while the handler runs): into a lent buffer
      // for a handler that reads it only until its answer resolves, else an array of its own.
      const lent = lend && n <= LEASE_BYTES && !noBodyMethod ? takeLease(n) : undefined;
      this.#lent = lent;
      const bytes = lent ? leaseView(lent, n) : new Uint8Array(n);
      bytes.set(r.buf.subarray(r.start, r.start + n));
      r.consume(n);
      this.bodyComplete = true;
      return noBodyMethod ? null : bytes;
    }
    const limits = this.ctx.limits;
    this.bodyComplete = false;
    this.#continue = head.expectContinue && !noBodyMethod ? "due" : "no";
    this.bodyDeadline = limits.bodyTimeoutMs > 0 && !noBodyMethod
      ? Date.now() + limits.bodyTimeoutMs
      : 0;
    this.#bodyExpired = undefined;
    this.#body = new RequestBody({
      reader: r,
      beforeRead: () => this.#sendContinue(),
      expired: () =>
        limits.bodyTimeoutMs > 0
          ? (this.#bodyExpired ??= Promise.withResolvers()).promise
          : undefined,
      finished: (complete) => {
        this.bodyComplete = complete;
        this.bodyDeadline = 0;
        if (complete) this.watch();
      },
    }, { length: n, limit: limits.maxBodyBytes });
    return noBodyMethod ? null : this.#body;
  }

  /** Whether the request body is fully read now (skipping what the handler left unread). */
  protected settleBody(): boolean {
    const body = this.#body;
    if (this.bodyComplete || !body) return this.bodyComplete;
    if (body.skipBuffered()) this.bodyComplete = true;
    return this.bodyComplete;
  }

  async #sendContinue(): Promise<void> {
    if (this.#continue !== "due") return;
    this.#continue = "sent";
    await this.writer.write(CONTINUE);
  }
}
