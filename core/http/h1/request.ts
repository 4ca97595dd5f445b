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
