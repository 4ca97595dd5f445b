/**
 * What a connection needs from the server that accepted it: the limits, the application, and
 * where to report what happened (metrics, errors).
 * @module
 */
import type { HttpError } from "../../errors/mod.ts";
import type { Connection } from "./connection.ts";
import type { HeadLimits, RequestHead } from "./head.ts";
import type { RawHandler } from "./raw.ts";

/** The bounds a connection enforces. */
export interface ConnectionLimits extends HeadLimits {
  /** Largest request head (request line and fields) in bytes (431 above). */
  maxHeaderBytes: number;
  /** Largest request body in bytes (413 above). */
  maxBodyBytes: number;
  /** Time to receive a whole request head, from its first byte (a new connection: from accept). */
  headerTimeoutMs: number;
  /** Time to receive a whole request body, from the end of its head. */
  bodyTimeoutMs: number;
  /** Time a keep-alive connection may wait for its next request, and a write may stall. */
  idleTimeoutMs: number;
}

/** Phases whose deadline can pass. */
export type TimeoutPhase = "head" | "body" | "idle" | "write";

/** The server side of a connection. */
export interface ConnectionContext {
  readonly limits: ConnectionLimits;
  /** Size the read buffer may grow to (fits the largest head, chunk line and trailer). */
  readonly readCapacity: number;
  /** "http" or "https". */
  readonly scheme: string;
  /** host:port of the listener, for requests without a Host (HTTP/1.0). */
  readonly authority: string;
  /** True once the server is draining: responses close their connection. */
  readonly draining: boolean;
  /** Serves a request; never rejects (errors become responses). */
  handle(req: Request): Promise<Response>;
  /** The raw-path handler for a request, or undefined to serve it as a fetch Request. */
  rawRoute(head: RequestHead): RawHandler | undefined;
  /** The JSON envelope for a request the connection refuses. */
  errorResponse(err: HttpError): Response;
  /** A request was refused at the protocol level with `status`. */
  protocolError(status: number): void;
  /** A deadline passed in `phase`. */
  timedOut(phase: TimeoutPhase): void;
  /** The connection failed unexpectedly (not a client going away). */
  connectionError(err: unknown): void;
  /** The connection ended. */
  closed(conn: Connection): void;
}
