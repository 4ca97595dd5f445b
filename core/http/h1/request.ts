/**
 * The Request a connection hands to the application: a fetch Request whose `signal` is made
 * only when someone asks for it (most handlers never do, and an AbortController per request
 * costs), and aborts when the client goes away.
 * @module
 */

/** A fetch Request served from a connection. */
export class EdgeRequest extends Request {
  #controller: AbortController | undefined;
  #gone = false;
  /**
   * The request-target exactly as the client sent it. `url` is what the WHATWG URL parser made
   * of it, which removes dot segments: a proxy that must refuse `/proxy/../x` reads this.
   */
  readonly target: string;

  /**
   * @param url the absolute URL
   * @param method the request method
   * @param headers field lines in order
   * @param body the body, if any
   * @param target the request-target as sent
   * @throws {TypeError} for a URL or method a fetch Request refuses
   */
  constructor(
    url: string,
    method: string,
    headers: ReadonlyArray<readonly [string, string]>,
    body: BodyInit | null,
    target: string,
  ) {
    // GET is the default; appending fields afterwards costs a third less than passing them
    // in the init (no sequence conversion of the whole list), which counts per request.
    super(url, method === "GET" ? undefined : { method, body });
    this.target = target;
    const h = this.headers;
    for (let i = 0; i < headers.length; i++) h.append(headers[i][0], headers[i][1]);
  }

  /** Aborts once the client disconnects (made on first access). */
  override get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#gone) this.#controller.abort(disconnected());
    }
    return this.#controller.signal;
  }

  /** The client went away: abort the signal (now, or when it is first asked for). */
  disconnect(): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#controller?.abort(disconnected());
  }
}

function disconnected(): DOMException {
  return new DOMException("client disconnected", "AbortError");
}

/**
 * The path and query of `req` as the client sent them: the raw request-target for a request
 * served by the edge, else the path and query of `req.url`.
 * @example
 * ```ts
 * requestTargetOf(new Request("http://h/a/../b?x=1")); // "/b?x=1" (the URL parser normalised it)
 * ```
 */
export function requestTargetOf(req: Request): string {
  if (req instanceof EdgeRequest && req.target.charCodeAt(0) === 47) return req.target;
  const url = req.url;
  const start = url.indexOf("/", url.indexOf("://") + 3);
  return start < 0 ? "/" : url.slice(start);
}
