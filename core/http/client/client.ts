/**
 * The client for one origin: the keep-alive pool for `http:` (over TCP or a Unix socket), `fetch`
 * for `https:` (TLS is the runtime's), behind one `send` function with the same errors and
 * response shape.
 * @module
 */
import { after, timeoutSignal } from "../../async/mod.ts";
import { abortedError } from "./connection.ts";
import { HttpClientError } from "./error.ts";
import {
  type ClientRequest,
  type ClientResponse,
  OriginPool,
  type OriginPoolOptions,
} from "./pool.ts";
import { errorMessage } from "../../errors/mod.ts";

/** Sends one request; rejects with an {@linkcode HttpClientError}. */
export type SendRequest = (req: ClientRequest) => Promise<ClientResponse>;

/** A client bound to one origin. */
export interface OriginClient {
  send: SendRequest;
  /** Closes idle connections; requests in flight finish. */
  close(): void;
}

/**
 * `body` (a body `fetch` streams) whose failures are {@linkcode HttpClientError}s, as the pool's
 * are: `aborted` when `signal` was aborted (with its reason), `timeout` when `deadline` (the
 * whole exchange's) passed, else `protocol` (the body was cut short or framed wrongly: `fetch`
 * does not tell a close in the middle of a chunk from a reset or a bad chunk size).
 */
function failingAs(
  body: ReadableStream<Uint8Array>,
  signal: AbortSignal | undefined,
  deadline: AbortSignal,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { value, done } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (err) {
        if (signal?.aborted) controller.error(abortedError(signal.reason));
        else if (deadline.aborted) {
          controller.error(new HttpClientError("timeout", "timed out", { cause: err }));
        } else {
          const message = `body cut short or malformed: ${errorMessage(err)}`;
          controller.error(new HttpClientError("protocol", message, { cause: err }));
        }
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/**
 * The client for `origin`: {@linkcode OriginPool} for `http:` (over TCP, or the Unix socket
 * `opts.unixPath` names), `fetch` for `https:`.
 *
 * @example
 * ```ts
 * const client = createOriginClient("http://127.0.0.1:8000");
 * const res = await client.send({
 *   method: "POST", target: "/tasks", headers: [["content-type", "application/json"]],
 *   body: new TextEncoder().encode("{}"), timeoutMs: 5000,
 * });
 * client.close();
 * ```
 * @throws {TypeError} for `opts.unixPath` with an origin other than `http:`
 */
export function createOriginClient(origin: string, opts: OriginPoolOptions = {}): OriginClient {
  const url = new URL(origin);
  if (url.protocol === "http:") {
    const pool = new OriginPool(url, opts);
    return { send: (req) => pool.request(req), close: () => pool.close() };
  }
  if (opts.unixPath !== undefined) {
    throw new TypeError(`a Unix socket carries only http: (not ${url.protocol})`);
  }
  const client = Deno.createHttpClient({});
  return {
    send: async (req) => {
      let res: Response;
      // A deadline on the head alone is a timer cancelled once the head is there.
      const head = req.deadline === "head" ? new AbortController() : undefined;
      const timer = head &&
        after(req.timeoutMs, () => head.abort(new DOMException("timed out", "TimeoutError")));
      const deadline = head?.signal ?? timeoutSignal(req.timeoutMs);
      const signal = req.signal ? AbortSignal.any([deadline, req.signal]) : deadline;
      try {
        res = await fetch(new URL(req.target, url), {
          method: req.method,
          // Name and value alone (a pair may carry its value's bytes too).
          headers: req.headers.map(([name, value]): [string, string] => [name, value]),
          // A copy: the caller's bytes may be reused once the answer resolved, which an
          // upstream may send before it read the whole body.
          body: req.method === "GET" || req.method === "HEAD" ? undefined : req.body.slice(),
          redirect: "manual",
          signal,
          client,
        });
      } catch (err) {
        timer?.cancel();
        if (req.signal?.aborted) throw abortedError(req.signal.reason);
        const timedOut = err instanceof DOMException && err.name === "TimeoutError";
        const message = errorMessage(err);
        throw new HttpClientError(timedOut ? "timeout" : "connect", message, { cause: err });
      }
      timer?.cancel();
      if (res.status < 200 || res.status > 599) {
        await res.body?.cancel();
        throw new HttpClientError("protocol", `invalid response: status ${res.status}`);
      }
      const body = res.body && failingAs(res.body, req.signal, deadline);
      return { status: res.status, contentType: res.headers.get("content-type"), body };
    },
    close: () => client.close(),
  };
}
