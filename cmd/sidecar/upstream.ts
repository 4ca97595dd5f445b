/**
 * A small HTTP/1.1 client for the sidecar's one upstream: a bounded pool of keep-alive TCP
 * connections, requests written in one call, responses parsed in place. It exists because
 * `fetch` costs several times more per proxied request than the rest of the sidecar together
 * (measured in docs/sidecar.md); https upstreams still go through `fetch`.
 *
 * Small bodies with a Content-Length are read whole; chunked, close-delimited and large bodies
 * are streamed. A request on a reused connection that fails before any response byte arrives
 * is retried once on a fresh connection (the server closed an idle connection).
 * @module
 */
import { ChunkedDecoder } from "./chunked.ts";
import { Connection, UpstreamError } from "./connection.ts";

export { UpstreamError } from "./connection.ts";

/** Idle connections kept per upstream by default. */
export const DEFAULT_MAX_IDLE = 128;
/** Largest response head accepted. */
export const MAX_RESPONSE_HEAD_BYTES = 64 * 1024;
/** Bodies up to this size (with a Content-Length) are read whole instead of streamed. */
export const BUFFER_BODY_BYTES = 256 * 1024;

/** A parsed response. */
export interface UpstreamResponse {
  status: number;
  contentType: string | null;
  body: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array> | null;
}

interface Head {
  status: number;
  contentType: string | null;
  length: number | undefined;
  chunked: boolean;
  close: boolean;
}

const encoder = new TextEncoder();

function parseHead(text: string): Head {
  const lines = text.split("\r\n");
  const m = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0]);
  if (!m) throw new UpstreamError("protocol", "malformed status line");
  const head: Head = {
    status: Number(m[2]),
    contentType: null,
    length: undefined,
    chunked: false,
    close: m[1] === "0",
  };
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === "content-type") head.contentType = value;
    else if (name === "content-length") {
      if (!/^\d{1,15}$/.test(value)) throw new UpstreamError("protocol", "bad Content-Length");
      head.length = Number(value);
    } else if (name === "transfer-encoding") head.chunked = /chunked/i.test(value);
    else if (name === "connection") {
      head.close = /close/i.test(value) || (head.close && !/keep-alive/i.test(value));
    }
  }
  return head;
}

/** The keep-alive pool for one upstream origin. */
export class UpstreamPool {
  readonly #host: string;
  readonly #port: number;
  readonly #hostHeader: string;
  readonly #idle: Connection[] = [];
  readonly #maxIdle: number;
  #closed = false;

  constructor(origin: URL, opts: { maxIdle?: number } = {}) {
    this.#host = origin.hostname.replace(/^\[|\]$/g, "");
    this.#port = Number(origin.port || 80);
    this.#hostHeader = origin.host;
    this.#maxIdle = opts.maxIdle ?? DEFAULT_MAX_IDLE;
  }

  /** Sends a request and resolves once the response head arrived (the body may stream). */
  async request(
    pathAndQuery: string,
    headers: Array<[string, string]>,
    body: Uint8Array,
    timeoutMs: number,
  ): Promise<UpstreamResponse> {
    let head =
      `POST ${pathAndQuery} HTTP/1.1\r\nhost: ${this.#hostHeader}\r\ncontent-length: ${body.length}\r\n`;
    for (const [k, v] of headers) head += `${k}: ${v}\r\n`;
    const headBytes = encoder.encode(head + "\r\n");
    const message = new Uint8Array(headBytes.length + body.length);
    message.set(headBytes);
    message.set(body, headBytes.length);
    const deadline = Date.now() + timeoutMs;
    for (let attempt = 0;; attempt++) {
      const pooled = this.#idle.pop();
      const conn = pooled ?? await this.#connect(deadline);
      try {
        return await this.#exchange(conn, message, deadline);
      } catch (err) {
        conn.close();
        const stale = pooled !== undefined && attempt === 0 && conn.received === 0 &&
          !(err instanceof UpstreamError && err.kind === "timeout");
        if (!stale) throw err;
      }
    }
  }

  async #connect(deadline: number): Promise<Connection> {
    const wait = deadline - Date.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new UpstreamError("timeout", "connect timed out")),
        Math.max(0, wait),
      );
    });
    const connecting = Deno.connect({ hostname: this.#host, port: this.#port });
    try {
      const tcp = await Promise.race([connecting, timeout]);
      tcp.setNoDelay(true);
      return new Connection(tcp);
    } catch (err) {
      connecting.then((c) => c.close(), () => {});
      if (err instanceof UpstreamError) throw err;
      throw new UpstreamError("connect", (err as Error).message);
    } finally {
      clearTimeout(timer);
    }
  }

  async #exchange(
    conn: Connection,
    message: Uint8Array,
    deadline: number,
  ): Promise<UpstreamResponse> {
    conn.arm(deadline);
    await conn.writeAll(message);
    let head: Head;
    do {
      head = parseHead(await conn.readHead(MAX_RESPONSE_HEAD_BYTES));
    } while (head.status >= 100 && head.status < 200); // 100 Continue and friends
    const done = () => this.#release(conn, head.close);
    if (head.status === 204 || head.status === 304 || head.length === 0) {
      done();
      return { status: head.status, contentType: head.contentType, body: null };
    }
    if (!head.chunked && head.length !== undefined && head.length <= BUFFER_BODY_BYTES) {
      const body = await conn.readExactly(head.length);
      done();
      return { status: head.status, contentType: head.contentType, body };
    }
    return { status: head.status, contentType: head.contentType, body: this.#stream(conn, head) };
  }

  #stream(conn: Connection, head: Head): ReadableStream<Uint8Array> {
    let left = head.length ?? Infinity;
    const chunked = head.chunked ? new ChunkedDecoder(conn) : undefined;
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        try {
          const chunk = chunked ? await chunked.next() : await conn.readSome(left);
          if (chunk === null) {
            if (!chunked && left !== Infinity && left > 0) {
              throw new UpstreamError("protocol", "body cut short");
            }
            controller.close();
            this.#release(conn, head.close || (!chunked && head.length === undefined));
            return;
          }
          if (!chunked) left -= chunk.length;
          controller.enqueue(chunk);
          if (left === 0) {
            controller.close();
            this.#release(conn, head.close);
          }
        } catch (err) {
          conn.close();
          controller.error(err);
        }
      },
      cancel: () => conn.close(),
    });
  }

  #release(conn: Connection, close: boolean): void {
    conn.disarm();
    if (close || this.#closed || conn.pending > 0 || this.#idle.length >= this.#maxIdle) {
      conn.close();
    } else this.#idle.push(conn);
  }

  /** Closes every idle connection; in-flight ones close when they finish. */
  close(): void {
    this.#closed = true;
    for (const c of this.#idle.splice(0)) c.close();
  }
}

/** Sends one POST to the agent; rejects with an {@linkcode UpstreamError}. */
export type SendUpstream = (
  pathAndQuery: string,
  headers: Array<[string, string]>,
  body: Uint8Array<ArrayBuffer>,
  timeoutMs: number,
) => Promise<UpstreamResponse>;

/** The agent client: the keep-alive pool for http://, `fetch` for https://. */
export function createUpstreamClient(agentUrl: string): { send: SendUpstream; close(): void } {
  const origin = new URL(agentUrl);
  if (origin.protocol === "http:") {
    const pool = new UpstreamPool(origin);
    return { send: (p, h, b, t) => pool.request(p, h, b, t), close: () => pool.close() };
  }
  const client = Deno.createHttpClient({});
  return {
    send: async (pathAndQuery, headers, body, timeoutMs) => {
      let res: Response;
      try {
        res = await fetch(new URL(pathAndQuery, origin), {
          method: "POST",
          headers,
          body,
          redirect: "manual",
          signal: AbortSignal.timeout(timeoutMs),
          client,
        });
      } catch (err) {
        const timedOut = err instanceof DOMException && err.name === "TimeoutError";
        throw new UpstreamError(timedOut ? "timeout" : "connect", (err as Error).message);
      }
      return { status: res.status, contentType: res.headers.get("content-type"), body: res.body };
    },
    close: () => client.close(),
  };
}
