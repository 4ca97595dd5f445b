/**
 * Flush rounds for live SSE frames: subscribers coalesce frames and a round writes every
 * subscriber holding some, one write each (subscribers that got the same frames share one joined
 * chunk). The next round starts once the last round's writes were taken by their sockets (all
 * but a straggling 1%), or once the few left (a tenth at most) stopped making progress (a few
 * slow readers: their own connections queue the rest), or after a bounded wait, and no sooner than
 * a few milliseconds after the last round started. A write its socket took only part of, or one
 * queued behind an earlier write not taken yet, is never a write of the round (its member
 * reports it settled, or does not count it): stalled readers, however many, cannot pace the
 * others. A socket write
 * costs far more in the kernel than the JavaScript that starts it, so pacing rounds by their
 * writes' completion makes each write carry every event published meanwhile: the cost of a
 * fan-out follows the number of subscribers, not the number of events, and delivery latency
 * stays near two rounds however fast events arrive.
 * @module
 */
import { concatBytes, shareChunk } from "../../http/mod.ts";

/** A subscriber taking part in flush rounds. */
export interface RoundMember {
  /**
   * Writes the frames it holds as one chunk (`joiner` shares it with alike subscribers).
   * Returns whether a write went out: the round then waits for {@linkcode FlushRounds.settled}.
   */
  flush(joiner: RoundJoiner): boolean;
}

/** Subscribers of a round allowed to still be writing when the next starts (1 in 100). */
const STRAGGLERS_PER_MEMBER = 0.01;
/**
 * The quiet rule is for a few slow readers: it applies once at most this share of a round's
 * writes (or {@linkcode QUIET_FEW}) is still in flight. More than that is the isolate itself
 * still carrying out the round's writes (their completions come in batches, the loop busy with
 * the writes themselves), which the next round waits for, up to the maximum wait.
 */
const QUIET_SHARE = 0.1;
/** Writes in flight few enough for the quiet rule whatever the round's size. */
const QUIET_FEW = 64;
/** A round whose writes made no progress for this long is not waited for any more (ms). */
export const DEFAULT_ROUND_QUIET_MS = 5;
/** The longest a round is waited for, progress or not (ms). */
export const DEFAULT_ROUND_MAX_WAIT_MS = 1000;
/** The shortest time from one round's start to the next's (ms): busy rounds carry more. */
export const DEFAULT_ROUND_MIN_INTERVAL_MS = 5;

/** Options for {@linkcode FlushRounds}. */
export interface FlushRoundsOptions {
  /** A round whose writes made no progress for this long is not waited for (ms). */
  quietMs?: number;
  /** The longest a round is waited for (ms). */
  maxWaitMs?: number;
  /** The shortest time from one round's start to the next's (ms). */
  minIntervalMs?: number;
}

/** Joins a subscriber's frames, reusing the chunk of the previous subscriber with the same. */
export class RoundJoiner {
  #frames: readonly Uint8Array[] = [];
  #chunk: Uint8Array | undefined;

  /** The frames as one chunk framed for the wire once (`bytes`: their total length). */
  join(frames: readonly Uint8Array[], bytes: number): Uint8Array {
    if (this.#chunk && sameFrames(frames, this.#frames)) return this.#chunk;
    this.#frames = frames; // a subscriber never changes an array it handed over
    return this.#chunk = shareChunk(concatBytes(frames, bytes));
  }
}

function sameFrames(a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The round scheduler (one per isolate: every subscriber's socket shares its CPU).
 * @example
 * ```ts
 * const rounds = new FlushRounds();
 * rounds.mark(member);    // member holds frames: it is written in the next round
 * rounds.settled(member); // its write was taken by the socket (or it ended)
 * ```
 */
export class FlushRounds {
  /** Members holding frames for the next round. */
  readonly #due = new Set<RoundMember>();
  /** Members written in the last round whose writes are not taken yet. */
  readonly #writing = new Set<RoundMember>();
  /** Members of #writing the next round does not wait for. */
  #slack = 0;
  /** Members of #writing few enough for the quiet rule to apply. */
  #few = QUIET_FEW;
  #startedAt = -Infinity;
  /** When a write of the last round was last taken (or the round started). */
  #progressAt = 0;
  #starting = false;
  /** A round's members are being flushed: the next is scheduled once they all were. */
  #flushing = false;
  /** Writes of the round under way made for subscribers that are not members (see `wrote`). */
  #shared = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #quietMs: number;
  readonly #maxWaitMs: number;
  readonly #minIntervalMs: number;

  constructor(opts: FlushRoundsOptions = {}) {
    this.#quietMs = opts.quietMs ?? DEFAULT_ROUND_QUIET_MS;
    this.#maxWaitMs = opts.maxWaitMs ?? DEFAULT_ROUND_MAX_WAIT_MS;
    this.#minIntervalMs = opts.minIntervalMs ?? DEFAULT_ROUND_MIN_INTERVAL_MS;
  }

  /** Members waiting for the next round. */
  get due(): number {
    return this.#due.size;
  }

  /** `m` holds frames: it is written in the next round. */
  mark(m: RoundMember): void {
    this.#due.add(m);
    this.#schedule();
  }

  /** The write `m` made in a round was taken by its socket, or `m` ended. */
  settled(m: RoundMember): void {
    if (!this.#writing.delete(m)) return;
    this.#progressAt = performance.now();
    if (this.#writing.size <= this.#slack) this.#schedule();
  }

  /**
   * `m` was written by another member of the round under way (the fan-out writing a topic's
   * frames to its subscribers): the next round waits for that write as for a member's own.
   */
  wrote(m: RoundMember): void {
    this.#writing.add(m);
    this.#shared++;
  }

  /** `m` ended: it is neither written nor waited for any more. */
  forget(m: RoundMember): void {
    this.#due.delete(m);
    this.settled(m);
  }

  #schedule(): void {
    if (this.#due.size === 0 || this.#starting || this.#flushing) return;
    if (this.#writing.size <= this.#slack) return this.#runSoon();
    if (this.#timer === undefined) this.#check();
  }

  /**
   * Starts the next round after every completion and publish this turn of the loop brought, and
   * no sooner than the minimum interval after the last round started.
   */
  #runSoon(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#starting = true;
    const early = this.#startedAt + this.#minIntervalMs - performance.now();
    if (early > 0) this.#timer = setTimeout(this.#run, early);
    // The global, read on first use: Deno's Node timers load with the first publish, not at start.
    else setImmediate(this.#run);
  }

  /** Writes still in flight: go on once they stopped progressing or waited too long. */
  readonly #check = (): void => {
    this.#timer = undefined;
    if (this.#due.size === 0 || this.#starting) return;
    if (this.#writing.size <= this.#slack) return this.#schedule();
    const now = performance.now();
    const quietUntil = this.#progressAt + this.#quietMs;
    const giveUpAt = this.#startedAt + this.#maxWaitMs;
    const quiet = now >= quietUntil && this.#writing.size <= this.#few;
    if (quiet || now >= giveUpAt) return this.#runSoon();
    const next = now >= quietUntil ? now + this.#quietMs : quietUntil;
    this.#timer = setTimeout(this.#check, Math.min(next, giveUpAt) - now);
  };

  readonly #run = (): void => {
    this.#starting = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#due.size === 0) return;
    const members = [...this.#due];
    this.#due.clear();
    // Stragglers of the round before are not waited for again: their sockets queue the rest.
    this.#writing.clear();
    this.#shared = 0;
    this.#startedAt = this.#progressAt = performance.now();
    const joiner = new RoundJoiner();
    this.#flushing = true;
    try {
      for (const m of members) if (m.flush(joiner)) this.#writing.add(m);
    } finally {
      this.#flushing = false;
    }
    const writes = members.length + this.#shared;
    this.#slack = Math.floor(writes * STRAGGLERS_PER_MEMBER);
    this.#few = Math.max(QUIET_FEW, Math.floor(writes * QUIET_SHARE));
    this.#schedule(); // members marked while flushing (the fan-out's next share, a re-mark)
  };
}
