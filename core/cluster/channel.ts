/**
 * Calls and one-way posts between the isolates of one service over a Worker's message port:
 * `call(kind, data)` resolves with the other side's answer (or rejects with its error, HTTP
 * errors keeping their status) within a bounded wait; `post(kind, data)` expects none. Messages
 * on one port arrive in the order they were sent, which the callers rely on (records posted
 * before a call's answer are received before it).
 *
 * A message whose data is a string (or none), and an answer that is a string or a safe integer,
 * crosses as one string (see {@linkcode TextMessage}): a port copies a string in one piece, where
 * an envelope object costs V8's structured clone field by field. The receiver gets the same
 * value either way. String messages sent in one turn of the event loop leave together, as one
 * message, at the end of that turn (each message across a port wakes the other isolate and costs
 * both sides a dispatch); a message in object form sends those queued before it first.
 * @module
 */
import { after } from "../async/mod.ts";
import { ConfigError, errorMessage, HttpError, UnavailableError } from "../errors/mod.ts";

/** The part of a Worker (main side) or a worker's global scope (worker side) a channel uses. */
export interface Endpoint {
  postMessage(message: unknown): void;
  addEventListener(type: "message", listener: (e: MessageEvent) => void): void;
}

/** Answers calls or takes posts of one kind. */
export type Handler = (data: unknown) => unknown;

/** An error as it crosses isolates. */
interface WireError {
  /** The error's class name (a receiver may rebuild its own class from it). */
  name: string;
  message: string;
  status?: number;
  retryAfter?: number;
  extra?: Record<string, unknown>;
}

type Message =
  | { call: number; kind: string; data: unknown }
  | { post: string; data: unknown }
  | { reply: number; ok: true; data: unknown }
  | { reply: number; ok: false; error: WireError };

/**
 * The string form of a message, by its first character: `P<kind>\n<data>` a post of a string,
 * `p<kind>` a post without data, `C<id> <kind>\n<data>` a call with a string, `c<id> <kind>` a
 * call without data, `R<id>\n<data>` a string answer, `N<id>\n<integer>` an integer answer,
 * `B<length>:<message>...` several of these sent together. A kind that holds a line feed takes
 * the object form.
 */
type TextMessage = string;

const LF = "\n";
const P = 80, LOWER_P = 112, C = 67, R = 82, N = 78, B = 66;

/**
 * Most characters of string messages sent together as one (`B<length>:<message>...`, the
 * lengths included); a longer message leaves on its own. A slice of a message keeps all of it in memory (the relay's cached
 * events), so this also bounds what one such slice holds.
 */
export const COALESCE_MAX_CHARS = 64 * 1024;

/** A call the other side did not answer within its timeout (it may still act on it). */
export class CallTimeoutError extends Error {
  override name = "CallTimeoutError";
}

/** Longest a call waits for its answer unless told otherwise. */
export const DEFAULT_CALL_TIMEOUT_MS = 10_000;

function toWire(err: unknown): WireError {
  const name = err instanceof Error ? err.name : "Error";
  if (err instanceof UnavailableError) {
    return { name, message: err.message, status: 503, retryAfter: err.retryAfterSeconds };
  }
  if (err instanceof HttpError) {
    return { name, message: err.message, status: err.status, extra: err.extra };
  }
  // A ConfigError's message names the setting: it keeps it across the port.
  if (err instanceof ConfigError) return { name, message: err.message };
  return { name, message: errorMessage(err) };
}

function fromWire(e: WireError): Error {
  if (e.status === 503 && e.retryAfter !== undefined) {
    return new UnavailableError(e.message, e.retryAfter);
  }
  if (e.status !== undefined) return new HttpError(e.status, e.message, e.extra ?? {});
  const err = new Error(e.message);
  err.name = e.name;
  return err;
}

/** One side of the port between two isolates. */
export class Channel {
  readonly #end: Endpoint;
  readonly #handlers = new Map<string, Handler>();
  readonly #pending = new Map<number, PromiseWithResolvers<unknown>>();
  #next = 1;
  /** String messages of this turn of the event loop, not sent yet; `#queuedChars` joined. */
  #queued: string[] = [];
  #queuedChars = 0;

  constructor(end: Endpoint) {
    this.#end = end;
    end.addEventListener("message", (e) => {
      const m = e.data as Message | TextMessage;
      if (typeof m === "string") this.#receiveText(m);
      else this.#receive(m);
    });
  }

  #send(m: string): void {
    if (m.length > COALESCE_MAX_CHARS) {
      this.#flush();
      return this.#end.postMessage(m);
    }
    // What it adds to `B<length>:<message>...`: its length and `:` count too (`B` is the 1).
    const chars = String(m.length).length + 1 + m.length;
    if (this.#queuedChars + chars > COALESCE_MAX_CHARS - 1) this.#flush();
    if (this.#queued.push(m) === 1) queueMicrotask(() => this.#flush());
    this.#queuedChars += chars;
  }

  #flush(): void {
    const queued = this.#queued;
    if (queued.length === 0) return;
    this.#queued = [];
    this.#queuedChars = 0;
    if (queued.length === 1) return this.#end.postMessage(queued[0]);
    let joined = "B";
    for (const m of queued) joined += m.length + ":" + m;
    this.#end.postMessage(joined);
  }

  #sendObject(m: Message): void {
    this.#flush(); // keeps the order of what was sent
    this.#end.postMessage(m);
  }

  /** Registers what answers `call(kind)` and takes `post(kind)` from the other side. */
  on(kind: string, handler: Handler): void {
    this.#handlers.set(kind, handler);
  }

  /** Sends `data` without waiting for an answer. */
  post(kind: string, data?: unknown): void {
    if (!kind.includes(LF)) {
      if (typeof data === "string") return this.#send("P" + kind + LF + data);
      if (data === undefined) return this.#send("p" + kind);
    }
    this.#sendObject({ post: kind, data } satisfies Message);
  }

  /**
   * Asks the other side and waits for its answer.
   * @throws {HttpError} (or {UnavailableError}) as the other side threw it; {Error} when the
   * other side has no handler or failed otherwise; {CallTimeoutError} when it did not answer
   * within `timeoutMs`.
   */
  async call(kind: string, data?: unknown, timeoutMs = DEFAULT_CALL_TIMEOUT_MS): Promise<unknown> {
    const id = this.#next++;
    const waiter = Promise.withResolvers<unknown>();
    this.#pending.set(id, waiter);
    // core/async's timer: the global setTimeout would load Deno's Node layer into every isolate
    // (the worker stays alive while the call waits, so this timer need not hold the process).
    const timer = after(
      timeoutMs,
      () => waiter.reject(new CallTimeoutError(`no answer to ${kind} within ${timeoutMs} ms`)),
    );
    try {
      if (kind.includes(LF) || (data !== undefined && typeof data !== "string")) {
        this.#sendObject({ call: id, kind, data } satisfies Message);
      } else if (data === undefined) this.#send("c" + id + " " + kind);
      else this.#send("C" + id + " " + kind + LF + data);
      return await waiter.promise;
    } finally {
      timer.cancel();
      this.#pending.delete(id);
    }
  }

  /** Rejects every call waiting for an answer (the other side is gone). */
  abandon(reason: Error): void {
    for (const w of this.#pending.values()) w.reject(reason);
    this.#pending.clear();
  }

  #receive(m: Message): void {
    if ("reply" in m) {
      const w = this.#pending.get(m.reply);
      if (!w) return; // timed out already
      if (m.ok) w.resolve(m.data);
      else w.reject(fromWire(m.error));
      return;
    }
    if ("post" in m) {
      this.#handlers.get(m.post)?.(m.data);
      return;
    }
    void this.#answer(m.call, m.kind, m.data);
  }

  #receiveText(m: TextMessage): void {
    const tag = m.charCodeAt(0);
    if (tag === B) {
      for (let i = 1; i < m.length;) {
        const colon = m.indexOf(":", i);
        const end = colon + 1 + Number(m.slice(i, colon));
        this.#receiveText(m.slice(colon + 1, end));
        i = end;
      }
      return;
    }
    if (tag === R || tag === N) {
      const lf = m.indexOf(LF);
      const w = this.#pending.get(Number(m.slice(1, lf)));
      if (!w) return; // timed out already
      const data = m.slice(lf + 1);
      w.resolve(tag === N ? Number(data) : data);
      return;
    }
    if (tag === P || tag === LOWER_P) {
      const lf = tag === P ? m.indexOf(LF) : m.length;
      this.#handlers.get(m.slice(1, lf))?.(tag === P ? m.slice(lf + 1) : undefined);
      return;
    }
    const space = m.indexOf(" ");
    const lf = tag === C ? m.indexOf(LF, space) : m.length;
    const id = Number(m.slice(1, space));
    void this.#answer(id, m.slice(space + 1, lf), tag === C ? m.slice(lf + 1) : undefined);
  }

  async #answer(id: number, kind: string, data: unknown): Promise<void> {
    const handler = this.#handlers.get(kind);
    let reply: Message | TextMessage;
    try {
      if (!handler) throw new Error(`no handler for ${kind}`);
      const out = await handler(data);
      if (typeof out === "string") reply = "R" + id + LF + out;
      else if (Number.isSafeInteger(out) && !Object.is(out, -0)) reply = "N" + id + LF + out;
      else reply = { reply: id, ok: true, data: out };
    } catch (err) {
      reply = { reply: id, ok: false, error: toWire(err) };
    }
    if (typeof reply === "string") this.#send(reply);
    else this.#sendObject(reply);
  }
}
