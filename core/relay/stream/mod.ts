/**
 * The relay's outgoing SSE streams apart from the relay, so that another server streaming to its
 * own clients (the dashboard's browser feed) loads neither the relay's routes nor its stores: one
 * subscriber's bounded, coalescing stream pushed onto its socket, and the flush rounds that write
 * every subscriber's frames together.
 *
 * @example
 * ```ts
 * const stream = new SseSubscriber({ queueBytes: 256 * 1024, onEnd: (why) => forget(why) });
 * return new Response(stream.body(), { headers: { "content-type": "text/event-stream" } });
 * ```
 * @module
 */
export {
  DEFAULT_REPLAY_TURN_BYTES,
  HELD_REASON,
  HeldBytes,
  type HeldMember,
  ReplayTurns,
} from "./budget.ts";
export {
  DEFAULT_OVERFLOW_WAIT_MS,
  DEFAULT_QUEUE_BYTES,
  type EndReason,
  SseSubscriber,
} from "./subscriber.ts";
export {
  DEFAULT_ROUND_MAX_WAIT_MS,
  DEFAULT_ROUND_MIN_INTERVAL_MS,
  DEFAULT_ROUND_QUIET_MS,
  FlushRounds,
  type FlushRoundsOptions,
  type RoundJoiner,
  type RoundMember,
} from "./rounds.ts";
