/**
 * What an isolate holds for all its subscribers together, bounded: each subscriber reports the
 * bytes it holds (its frames not yet written and what its socket has not taken yet) as they
 * change, and once their sum passes the bound the subscribers holding the most unsent bytes end
 * with `event: overflow` until it is back under it. A subscriber that reads holds little and is
 * cut off last; stalled ones, however many, cannot hold more than the bound between them.
 *
 * And a budget of replay work per turn of the event loop: replays take turns, each producing at
 * most its share before the others and the isolate's other work (a publish, /health) get theirs.
 * @module
 */

/** A subscriber counted by a {@linkcode HeldBytes}. */
export interface HeldMember {
  /** Bytes it holds now (as last reported). */
  readonly charged: number;
  /** Ends it with `event: overflow` saying `reason`. */
  overflow(reason: string): void;
}

/** What {@linkcode HeldBytes} says when it ends a subscriber. */
export const HELD_REASON = "relay subscriber memory bound reached";

/** The bytes held for an isolate's subscribers, bounded by `limit`. */
export class HeldBytes {
  /** Bytes held by subscribers still open. */
  #live = 0;
  /** Bytes still held by ended subscribers until their sockets let them go. */
  #closing = 0;
  readonly #members = new Set<HeldMember>();
  #due = false;
  /**
   * @param limit bound on the bytes of open subscribers together (Infinity: none)
   * @param onCut told of each subscriber it ends
   */
  constructor(readonly limit: number, private readonly onCut: () => void = () => {}) {}

  /** Bytes held for every subscriber (open ones and ended ones whose sockets still hold some). */
  get total(): number {
    return this.#live + this.#closing;
  }

  /** An open subscriber's bytes went from `was` to `now`. */
  change(m: HeldMember, was: number, now: number): void {
    this.#live += now - was;
    // Kept until it ends (a fan-out round takes a subscriber's bytes to 0 and back each time).
    if (was === 0) this.#members.add(m);
    if (this.#live > this.limit && !this.#due) {
      this.#due = true;
      // Not from within a write or a fan-out under way: once the current step is done.
      queueMicrotask(this.#cut);
    }
  }

  /** `m` ended holding `bytes`, its socket still holding them until it is closed or drained. */
  ended(m: HeldMember, bytes: number): void {
    this.#members.delete(m);
    this.#live -= bytes;
    this.#closing += bytes;
  }

  /** An ended subscriber's socket let go of the `bytes` it held. */
  released(bytes: number): void {
    this.#closing -= bytes;
  }

  readonly #cut = (): void => {
    this.#due = false;
    if (this.#live <= this.limit) return;
    const most = [...this.#members].filter((m) => m.charged > 0);
    most.sort((a, b) => b.charged - a.charged);
    for (const m of most) {
      if (this.#live <= this.limit) break;
      m.overflow(HELD_REASON);
      this.onCut();
    }
  };
}

/** Default bytes of replayed frames an isolate produces per turn of its event loop. */
export const DEFAULT_REPLAY_TURN_BYTES = 4 * 1024 * 1024;

/**
 * Replay work per turn of the event loop: a replay that produced its frames reports them
 * (`spend`) and, once the turn's budget is spent, waits for a later turn, in order of arrival:
 * replays take turns, and between turns the isolate answers publishes and /health.
 */
export class ReplayTurns {
  #spent = 0;
  readonly #waiting: Array<{ bytes: number; go: () => void }> = [];
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(readonly bytesPerTurn: number = DEFAULT_REPLAY_TURN_BYTES) {}

  /** Replays waiting for a turn. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Counts `bytes` of replay work; resolves at once within the turn's budget, else later. */
  spend(bytes: number): Promise<void> | undefined {
    this.#schedule();
    if (this.#waiting.length === 0 && this.#spent < this.bytesPerTurn) {
      this.#spent += bytes;
      return;
    }
    return new Promise((go) => this.#waiting.push({ bytes, go }));
  }

  #schedule(): void {
    // A timer, not a microtask: the turn ends, and the loop polls its sockets before the next.
    this.#timer ??= setTimeout(this.#turn, 0);
  }

  readonly #turn = (): void => {
    this.#timer = undefined;
    this.#spent = 0;
    const q = this.#waiting;
    let n = 0;
    while (n < q.length && this.#spent < this.bytesPerTurn) this.#spent += q[n++].bytes;
    for (const w of q.splice(0, n)) w.go();
    if (q.length > 0 || this.#spent > 0) this.#schedule();
  };
}
