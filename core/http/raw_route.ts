/**
 * Hot routes on the raw path (h1/raw.ts): served from the parsed head, before Hono's router,
 * with the same request id, metrics and error envelope the middlewares give every other route.
 * @module
 */
import type { Logger } from "../log/mod.ts";
import { type HttpMetrics, observeRequest } from "./metrics.ts";
import { errorEnvelope } from "./middleware/envelope.ts";
import { keepsRequestId } from "./middleware/request_id.ts";
import { randomUuidCodes, uuidText } from "../crypto/uuid/mod.ts";
import type { RawHandler, RawRequest, RawResponse } from "./h1/raw.ts";
import { requestTargetOf } from "./h1/request.ts";
import { checkHeaderPairs } from "./h1/response.ts";
import { isReadableStream } from "./h1/web_classes.ts";
import { readBody } from "./read_body.ts";
import { withSafeFields } from "./safe_fields.ts";

/** A route served on the raw path. Build it once, not per request. */
export interface RawRoute {
  /** The route pattern used as the metrics label (e.g. the Hono pattern it stands for). */
  route: string;
  /**
   * Serves the request; `requestId` is what `X-Request-Id` will carry, and `madeId` is true when
   * it is a random UUID made for this request (the client sent no id it could keep): a route
   * that needs a fresh UUID of its own for the request may take that one instead of making
   * another. A thrown error becomes the JSON envelope (its status for an HttpError, else 500).
   * `settle`, when given, lets a route that answers later complete its answer itself (see
   * {@linkcode RawSettle}).
   */
  serve(
    req: RawRequest,
    requestId: string,
    madeId?: boolean,
    settle?: RawSettle,
  ): RawResponse | Promise<RawResponse>;
  /**
   * The route reads the body's bytes (`bodyNow`, `body`) only until its answer resolves and
   * copies whatever it keeps longer: they may sit in a buffer the connection reuses afterwards
   * (see `RawHandler.leasesBody`).
   */
  leasesBody?: boolean;
  /**
   * Every field of the route's answers can be written as it is by construction: values the
   * route made itself, or took from a parse that refuses what `checkHeaderPairs` refuses. Its
   * answers are then not checked again (a bad field would otherwise become the 500 envelope).
   */
  headersSafe?: boolean;
}

/**
 * The path of a request-target (`/a/b?q`) or of a URL, exactly as sent: no percent-decoding and
 * dot segments kept, so a raw route sees what the client wrote and can refuse it.
 * @example
 * ```ts
 * targetPathOf("/proxy/../x?y=1"); // "/proxy/../x"
 * ```
 */
export function targetPathOf(target: string): string {
  let start = 0;
  if (target.charCodeAt(0) !== 47) {
    // An absolute-form target's authority ends at its first `/`, `?` or `#`: in
    // `http://h?/publish` the path is "/" and "/publish" is in the query.
    const authority = target.indexOf("://") + 3;
    start = target.slice(authority).search(/[/?#]/);
    if (start < 0 || target.charCodeAt(authority + start) !== 47) return "/";
    start += authority;
  }
  const q = target.indexOf("?", start);
  return target.slice(start, q < 0 ? target.length : q);
}

/** What the wrapper reports to. */
interface RawDeps {
  metrics: HttpMetrics;
  log: Logger;
}

/**
 * How a route that answers later may complete its answer in the reaction that makes it, instead
 * of the wrapper adding a reaction of its own to the promise the route returns (one promise job
 * fewer per request). A route that calls {@linkcode RawSettle.takeOver} while `serve` runs, and
 * returns a promise, must have that promise resolve to what `done` or `failed` made (one of
 * them, once) and never reject.
 */
export interface RawSettle {
  /** The route settles the promise it is about to return (call it before returning it). */
  takeOver(): void;
  /** The route's answer, completed: request id and metrics (its fields checked unless safe). */
  done(res: RawResponse): RawResponse;
  /** What a failure of the route becomes: the JSON envelope, counted in the metrics. */
  failed(err: unknown): RawResponse;
  /**
   * The char codes of `requestId` when it was made for this request: a route that writes it into
   * a head passes them with it (a `FieldPair`'s codes), copied as they are.
   */
  readonly madeIdCodes: readonly number[] | undefined;
}

/** One request in the raw route wrapper: what its answer is completed with. */
class Serving implements RawSettle {
  /** The route settles its promised answer itself ({@linkcode RawSettle.takeOver}). */
  late = false;
  constructor(
    readonly route: RawRoute,
    readonly deps: RawDeps,
    readonly req: RawRequest,
    readonly requestId: string,
    readonly madeIdCodes: readonly number[] | undefined,
    /** `performance.now()` when it began. */
    readonly start: number,
  ) {}

  takeOver(): void {
    this.late = true;
  }

  done(res: RawResponse): RawResponse {
    return finish(this, res);
  }

  failed(err: unknown): RawResponse {
    this.deps.metrics.inFlight.dec();
    return failed(this, err);
  }
}

/** The route's answer: its fields checked (a bad one becomes the 500 envelope), then observed. */
function finish(s: Serving, res: RawResponse): RawResponse {
  s.deps.metrics.inFlight.dec();
  if (s.route.headersSafe === true) return observed(s, res);
  try {
    // Checked here so a field that cannot be written becomes the 500 envelope, not a reset.
    checkHeaderPairs(res.headers);
  } catch (err) {
    return failed(s, err, res);
  }
  return observed(s, res);
}

/** The envelope of a failed route (a streaming body it returned is cancelled). */
function failed(s: Serving, err: unknown, res?: RawResponse): RawResponse {
  if (isReadableStream(res?.body)) res.body.cancel().catch(() => {});
  const { status, body } = errorEnvelope(err, s.requestId, s.deps.log, targetPathOf(s.req.target));
  const out: RawResponse = {
    status,
    headers: withSafeFields([["content-type", "application/json"]]),
    body: JSON.stringify(body),
  };
  return observed(s, out);
}

/** The answer with its request id, counted in the metrics. */
function observed(s: Serving, res: RawResponse): RawResponse {
  const codes = s.madeIdCodes;
  res.headers.push(
    codes === undefined ? ["X-Request-Id", s.requestId] : ["X-Request-Id", s.requestId, codes],
  );
  observeRequest(s.deps.metrics, s.req.method, s.route.route, res.status, s.start, res.endedAt);
  return res;
}

/**
 * `route` as the connection's handler: a request id (`X-Request-Id`), metrics labelled with
 * `route.route`, and the JSON envelope for a thrown error. Its `serve` never throws or rejects.
 * A route that answers at once costs no async function and no promise; one that answers later,
 * one promise reaction (none when it settles its answer itself, see {@linkcode RawSettle}).
 */
export function rawHandler(route: RawRoute, deps: RawDeps): RawHandler {
  return {
    leasesBody: route.leasesBody === true,
    // finish() checks what the route answers (unless its fields are safe by construction);
    // X-Request-Id is a safe id or a UUID.
    checksHeaders: true,
    serve(req) {
      const incoming = req.header("x-request-id");
      // The client's id when it is safe to echo, else a UUID made as char codes first (written
      // into the answer's head, and the route's, as they are).
      let requestId: string;
      let made: number[] | undefined;
      if (keepsRequestId(incoming)) requestId = incoming;
      else requestId = uuidText(made = randomUuidCodes());
      const s = new Serving(route, deps, req, requestId, made, performance.now());
      deps.metrics.inFlight.inc();
      let answer: RawResponse | Promise<RawResponse>;
      try {
        answer = route.serve(req, requestId, made !== undefined, s);
      } catch (err) {
        deps.metrics.inFlight.dec();
        return failed(s, err);
      }
      if (!(answer instanceof Promise)) return finish(s, answer);
      // Settled by the route where its answer is made (RawSettle).
      if (s.late) return answer;
      return answer.then((res) => finish(s, res), (err) => {
        deps.metrics.inFlight.dec();
        return failed(s, err);
      });
    },
  };
}

/**
 * A fetch Request seen as a raw-path request, so a raw route can also be registered with Hono
 * (for the requests the raw path leaves to the router).
 * @example
 * ```ts
 * app.post("/proxy", async (c) => responseOf(await route.serve(rawRequestOf(c.req.raw), "rid")));
 * ```
 */
export function rawRequestOf(req: Request): RawRequest {
  return {
    method: req.method,
    target: requestTargetOf(req),
    headers: [...req.headers],
    header: (name) => req.headers.get(name),
    body: (limit) => readBody(req, { limit }),
  };
}

/**
 * A raw-path answer as a fetch Response.
 * @example
 * ```ts
 * responseOf({ status: 204, headers: [], body: null }).status; // 204
 * ```
 */
export function responseOf(res: RawResponse): Response {
  // Name and value alone (a pair may carry its value's bytes too).
  const headers = res.headers.map(([name, value]): [string, string] => [name, value]);
  return new Response(res.body, { status: res.status, headers });
}
