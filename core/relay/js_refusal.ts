/**
 * Publishes the relay's JetStream stream refuses for good. The engine answers such a publish at
 * once (a PubAck carrying an error, or no responder at all when no stream takes the subject), and
 * waiting out the publish deadline cannot change the answer: the stream was changed under the
 * relay (an operator set `discard: new` with `max_msgs` or `max_bytes`, shrank `max_msg_size`,
 * sealed it, deleted it or took the relay's subjects from it), or the server has no room left for
 * it (its JetStream storage, or the account's limits, are used up: an operator must free or add
 * room, as for a full disk). Each kind has its own HTTP answer.
 * @module
 */
import { isPublishDenied, jetStreamApiCode } from "../nats/mod.ts";
import { NOT_WRITTEN } from "./store.ts";

/** Why the stream refused a publish. */
export type StreamRefusalReason =
  | "stream_full"
  | "topic_full"
  | "message_too_large"
  | "stream_sealed"
  | "stream_gone"
  | "stream_subjects"
  | "engine_full"
  | "engine_permission";

/**
 * The bound a full stream or a too large event reached: the stream's, or `max_payload`, the NATS
 * server's bound on any message (lowered below the relay's `max_payload_bytes` after it started).
 */
export type StreamLimit =
  | "max_msgs"
  | "max_bytes"
  | "max_msgs_per_subject"
  | "max_msg_size"
  | "max_payload"
  | "server_resources"
  | "account_limits";

const REASONS: ReadonlySet<string> = new Set<StreamRefusalReason>([
  "stream_full",
  "topic_full",
  "message_too_large",
  "stream_sealed",
  "stream_gone",
  "stream_subjects",
  "engine_full",
  "engine_permission",
]);

/** True for a {@linkcode StreamRefusalReason} (as read back from another isolate's answer). */
export function isStreamRefusalReason(v: unknown): v is StreamRefusalReason {
  return typeof v === "string" && REASONS.has(v);
}

/** The engine's code for a message the stream's store did not take (its text says why). */
const STORE_FAILED = 10077;
/** The engine's code for a message larger than the stream's `max_msg_size`. */
const MESSAGE_TOO_LARGE = 10054;
/** The engine's code for a publish to a sealed stream. */
const STREAM_SEALED = 10109;
/**
 * The engine's codes for a server whose JetStream storage is used up (`max_file_store`,
 * `max_memory_store`, or no storage or memory left to it), and for an account over its limits.
 */
const SERVER_RESOURCES: ReadonlySet<number> = new Set([10023, 10047, 10028]);
const ACCOUNT_LIMITS = 10002;
/** The engine's code for a stream that does not exist. */
export const STREAM_NOT_FOUND = 10059;

/** What the stream's store says when a `discard: new` bound is reached. */
const FULL: ReadonlyArray<[RegExp, StreamLimit]> = [
  [/maximum messages per subject exceeded/i, "max_msgs_per_subject"],
  [/maximum messages exceeded/i, "max_msgs"],
  [/maximum bytes exceeded/i, "max_bytes"],
];

function describe(reason: StreamRefusalReason, limit: StreamLimit | undefined): string {
  switch (reason) {
    case "stream_full":
      return `${NOT_WRITTEN}the relay's stream is full (${limit} reached, discarding new messages)`;
    case "topic_full":
      return `the topic is full in the relay's stream (${limit} reached, discarding new messages)`;
    case "message_too_large":
      return limit === "max_payload"
        ? "the event is larger than the NATS server takes (max_payload)"
        : `the event is larger than the relay's stream takes (${limit})`;
    case "stream_sealed":
      return `${NOT_WRITTEN}the relay's stream is sealed`;
    case "stream_gone":
      return `${NOT_WRITTEN}the relay's stream no longer exists (a relay restart creates it)`;
    case "stream_subjects":
      return `${NOT_WRITTEN}the relay's stream no longer takes the relay's subjects ` +
        "(stream_subjects)";
    case "engine_permission":
      return `${NOT_WRITTEN}the NATS user may not publish to the relay's subjects (its ` +
        "permissions on the NATS server)";
    case "engine_full":
      return limit === "account_limits"
        ? `${NOT_WRITTEN}the NATS account of the relay's stream is over its JetStream limits`
        : `${NOT_WRITTEN}the NATS server has no JetStream storage left for the relay's stream`;
  }
}

/**
 * A publish the stream refused for good; its message is the HTTP answer's `error` (it names no
 * secret: only the stream's bound). Stream-wide refusals start with `NOT_WRITTEN`, so `/health`
 * reports them like a local store that cannot write.
 */
export class StreamRefusedError extends Error {
  override name = "StreamRefusedError";
  constructor(
    readonly reason: StreamRefusalReason,
    readonly limit?: StreamLimit,
    options?: ErrorOptions,
  ) {
    super(describe(reason, limit), options);
  }

  /**
   * The HTTP status: 507 for a full stream or topic (an operator must raise the bound; the relay
   * client drops the event), 413 for an event larger than the stream takes, 503 (with
   * Retry-After) for a stream that is sealed, gone or no longer takes the relay's subjects, a NATS
   * user the server does not let publish to them, or a
   * server or account without room left (like a full disk: the event is kept and retried).
   */
  get status(): 507 | 413 | 503 {
    if (this.reason === "stream_full" || this.reason === "topic_full") return 507;
    return this.reason === "message_too_large" ? 413 : 503;
  }

  /** True when the whole stream refuses every publish (not only this topic or this event). */
  get streamWide(): boolean {
    return this.message.startsWith(NOT_WRITTEN);
  }

  /** The fields beside `error` in the HTTP answer. */
  get fields(): Record<string, string> {
    return { reason: this.reason, ...(this.limit ? { stream_limit: this.limit } : {}) };
  }
}

/**
 * The final refusal a publish's error from the engine (or the client) means, or undefined for anything else (an
 * outage, a wrong-last-sequence answer, an error this relay does not know to be final).
 *
 * @example
 * ```ts
 * pubAckRefusal(new Error("bad input")); // undefined
 * ```
 */
export function pubAckRefusal(err: unknown): StreamRefusedError | undefined {
  // The client refuses, before sending it, a message above the server's max_payload.
  if (
    err instanceof Error && err.name === "InvalidArgumentError" && /max_payload/.test(err.message)
  ) {
    return new StreamRefusedError("message_too_large", "max_payload", { cause: err });
  }
  // A user the server's permissions refuse the subject: no retry can help.
  if (isPublishDenied(err)) {
    return new StreamRefusedError("engine_permission", undefined, { cause: err });
  }
  const code = jetStreamApiCode(err);
  if (code === undefined) return undefined;
  if (SERVER_RESOURCES.has(code)) {
    return new StreamRefusedError("engine_full", "server_resources", { cause: err });
  }
  if (code === ACCOUNT_LIMITS) {
    return new StreamRefusedError("engine_full", "account_limits", { cause: err });
  }
  if (code === MESSAGE_TOO_LARGE) {
    return new StreamRefusedError("message_too_large", "max_msg_size", { cause: err });
  }
  if (code === STREAM_SEALED) {
    return new StreamRefusedError("stream_sealed", undefined, { cause: err });
  }
  if (code !== STORE_FAILED) return undefined;
  const text = err instanceof Error ? err.message : "";
  for (const [re, limit] of FULL) {
    if (re.test(text)) {
      const reason = limit === "max_msgs_per_subject" ? "topic_full" : "stream_full";
      return new StreamRefusedError(reason, limit, { cause: err });
    }
  }
  return undefined;
}
