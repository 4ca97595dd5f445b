/**
 * The one error type of the HTTP/1.1 client, with the reason it failed.
 * @module
 */

/**
 * Why a request to an origin failed: `timeout` (the deadline passed), `connect` (the origin
 * could not be reached or dropped the connection before answering), `protocol` (the origin
 * answered something HTTP/1.1 does not allow; the connection was closed, never reused),
 * `aborted` (the request's signal was aborted; the connection was closed).
 */
export class HttpClientError extends Error {
  override name = "HttpClientError";
  /**
   * @param kind why the request failed
   * @param message what happened (never contains request or response data)
   * @param options the underlying error, if any
   */
  constructor(
    readonly kind: "timeout" | "connect" | "protocol" | "aborted",
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
