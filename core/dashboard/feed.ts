/**
 * The dashboard's view of the mesh: one resumable relay subscription feeding a bounded ring of
 * recent events (masked and described on arrival), per-topic counters, the overview aggregates
 * and the relay's reachability, fanned out to browsers over the dashboard's own same-origin SSE
 * endpoint. Each browser stream carries only the topics its viewer may see. Browsers never talk
 * to the relay.
 * @module
 */
import { isoTimestamp, type Logger, scrubString } from "../log/mod.ts";
import { RelayClient, type RelayEvent } from "../relay/client/mod.ts";
import { SseSubscriber } from "../relay/stream/mod.ts";
import { encodeEvent, encodeRetry } from "../http/mod.ts";
import { type IntentBrief, intentBrief } from "./describe.ts";
import { type DashEvent, type HeldEvents, toDashEvent, type Viewer } from "./event.ts";
import { DEFAULT_VIEWER_CLASSES, HeldIndex } from "./held.ts";
import { MeshStats } from "./stats.ts";

/** The relay topics the dashboard follows by default. */
export const DEFAULT_TOPICS = [
  "access.intent",
  "access.decision",
  "audit.*",
  "iatp.trace",
  "sensor.*",
  "action.*",
  "status.*",
];

/** Default number of recent events kept (pages, search, browser resume, /tx lookups). */
export const DEFAULT_HISTORY = 10_000;
/** Default bound on the bytes of the recent events kept (their JSON, as streamed to browsers). */
export const DEFAULT_HISTORY_BYTES = 64 * 1024 * 1024;
/** Default bound on the bytes of events one answer holds (events search, a transaction). */
export const DEFAULT_RESPONSE_BYTES = 4 * 1024 * 1024;
/** Most topics counted; events of further topics are kept but not counted. */
const MAX_COUNTED_TOPICS = 1000;

/** Whether the relay is reachable, as shown on the page. */
export interface RelayState {
  /** `failed`: the feed stopped at an event it could not take (final until a restart). */
  state: "connecting" | "connected" | "unreachable" | "failed";
  /** Why it is not connected: the latest failure's reason. */
  error?: string;
  /** While `unreachable`: the connections in a row that failed. */
  failures?: number;
  /** When the state began (a further failure of the same run keeps it). */
  since: string;
  /** When the last event arrived. */
  last_event?: string;
}

/** Options for {@linkcode DashboardFeed}. */
interface FeedOptions {
  relayUrl: string;
  relayToken?: string;
  /** Silence after which the relay subscription is made again (the client's default if unset). */
  relayIdleTimeoutMs?: number;
  topics: string[];
  history: number;
  /**
   * Most bytes of event JSON kept (default {@linkcode DEFAULT_HISTORY_BYTES}): the oldest go
   * first, the newest event is always kept.
   */
  historyBytes?: number;
  queueBytes: number;
  /**
   * How long a stream cut off for its queue has for its socket to take the write in flight and
   * the overflow event before its connection is closed (the relay's default when unset).
   */
  overflowWaitMs?: number;
  maxClients: number;
  /**
   * Visibility classes whose summary is kept (default {@linkcode DEFAULT_VIEWER_CLASSES}); a
   * class beyond them is summarized again, from the held topics, when next asked.
   */
  viewerClasses?: number;
  log: Logger;
}

interface Client {
  stream: SseSubscriber;
  viewer: Viewer;
}

/** The live feed; see the module doc. */
export class DashboardFeed implements HeldEvents {
  readonly #ring: DashEvent[] = [];
  /** The JSON bytes of each event of the ring, in its order. */
  readonly #sizes: number[] = [];
  #bytes = 0;
  /** The position of the ring's first event: every event added before it went. */
  #first = 0;
  readonly #held: HeldIndex;
  readonly #seen = new Set<string>();
  readonly #counts = new Map<string, number>();
  readonly #intents = new Map<string, IntentBrief>();
  readonly #clients = new Set<Client>();
  readonly #client: RelayClient;
  readonly #sub: { close(): void };
  readonly stats = new MeshStats();
  #relay: RelayState = { state: "connecting", since: isoTimestamp(Date.now()) };

  constructor(private readonly o: FeedOptions) {
    this.#held = new HeldIndex(o.viewerClasses ?? DEFAULT_VIEWER_CLASSES);
    this.#client = new RelayClient({
      url: o.relayUrl,
      token: o.relayToken,
      log: o.log,
      backoffMinMs: 250,
      backoffMaxMs: 3_000,
      idleTimeoutMs: o.relayIdleTimeoutMs,
    });
    this.#sub = this.#client.subscribe(o.topics, (e) => this.#add(e), {
      onStatus: (s, err, failures) =>
        this.#setRelay(s === "disconnected" ? "unreachable" : s, err, failures),
      onReset: (oldest) => o.log.info("relay history reset", { oldest }),
    });
  }

  /** Recent events, oldest first (masked). */
  events(): readonly DashEvent[] {
    return this.#ring;
  }

  /** The index in {@linkcode events} of the held event `id` when `viewer` may see it, else -1. */
  indexOf(viewer: Viewer, id: string): number {
    const pos = this.#held.positionOf(id, (p) => this.#ring[p - this.#first].topic, viewer);
    return pos < 0 ? -1 : pos - this.#first;
  }

  /**
   * How many held events `viewer` may see, and the index in {@linkcode events} of the newest
   * (-1: none), without walking the events.
   */
  visible(viewer: Viewer): { count: number; newest: number } {
    const v = this.#held.visible(viewer);
    return { count: v.count, newest: v.count > 0 ? v.newest - this.#first : -1 };
  }

  /** The indexes in {@linkcode events} below `below` of the events `viewer` may see, newest first. */
  *visibleIndexes(viewer: Viewer, below: number): Generator<number> {
    for (const p of this.#held.visiblePositions(viewer, below + this.#first)) yield p - this.#first;
  }

  /** The indexes in {@linkcode events} of transaction `tx`'s events from `from` on, oldest first. */
  *txIndexes(tx: string, from: number): Generator<number> {
    const at = this.#held.positionsOf(tx);
    // Positions ascend: the first at or after `from` is found by halving.
    let lo = 0;
    let hi = at.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (at[mid] - this.#first < from) lo = mid + 1;
      else hi = mid;
    }
    for (let k = lo; k < at.length; k++) yield at[k] - this.#first;
  }

  /** The bytes of the event at `index` of {@linkcode events}, as its JSON is streamed. */
  bytesAt(index: number): number {
    return this.#sizes[index];
  }

  /** Events seen per topic since the dashboard started, for the topics `viewer` may see. */
  counts(viewer: Viewer): Map<string, number> {
    return new Map([...this.#counts].filter(([t]) => viewer.maySee(t)));
  }

  /** Most topics counted (the events page bounds its live list the same way). */
  get maxCountedTopics(): number {
    return MAX_COUNTED_TOPICS;
  }

  /**
   * The relay's reachability; for `viewer`, with `last_event` the time of the newest event it
   * may see (the arrival of a hidden event shows nowhere).
   */
  relay(viewer?: Viewer): RelayState {
    if (!viewer) return this.#relay;
    const { last_event: _, ...rest } = this.#relay;
    const last = this.#ring[this.visible(viewer).newest]?.ts;
    return last ? { ...rest, last_event: last } : rest;
  }

  /** Browsers connected now. */
  get clients(): number {
    return this.#clients.size;
  }

  /** True when no further browser stream may open (`maxClients` reached). */
  get full(): boolean {
    return this.#clients.size >= this.o.maxClients;
  }

  /** Browser streams open now for the viewer `id`. */
  streamsOf(id: string): number {
    let n = 0;
    for (const c of this.#clients) if (c.viewer.id === id) n++;
    return n;
  }

  #add(raw: RelayEvent): void {
    // A relay reset replays history we may already hold: the event_id identifies it.
    if (this.#seen.has(raw.event_id)) return;
    const e = toDashEvent(raw, (tx) => this.#intents.get(tx));
    if (e.topic === "access.intent" && e.tx) {
      this.#intents.set(e.tx, intentBrief(e.payload));
      if (this.#intents.size > this.o.history) {
        this.#intents.delete(this.#intents.keys().next().value!);
      }
    }
    const frame = eventFrame(e);
    this.#held.add(e.topic, e.id, this.#first + this.#ring.length, e.tx);
    this.#ring.push(e);
    this.#sizes.push(frame.length);
    this.#bytes += frame.length;
    this.#seen.add(e.event_id);
    // Bounded by count and by bytes: a few huge events cannot hold the dashboard's memory.
    const maxBytes = this.o.historyBytes ?? DEFAULT_HISTORY_BYTES;
    while (
      this.#ring.length > this.o.history || (this.#bytes > maxBytes && this.#ring.length > 1)
    ) {
      const gone = this.#ring.shift()!;
      this.#seen.delete(gone.event_id);
      this.#held.evict(gone.topic, gone.id, this.#first++, gone.tx);
      this.#bytes -= this.#sizes.shift()!;
    }
    if (this.#counts.has(e.topic) || this.#counts.size < MAX_COUNTED_TOPICS) {
      this.#counts.set(e.topic, (this.#counts.get(e.topic) ?? 0) + 1);
    }
    this.stats.add(e);
    this.#relay.last_event = e.ts;
    for (const c of this.#clients) {
      if (this.#holds(c) && c.viewer.maySee(e.topic)) c.stream.offer(frame);
    }
  }

  #setRelay(state: RelayState["state"], reason?: string, failures?: number): void {
    // Every viewer sees the reason, which may quote what the relay (or a proxy) answered: it is
    // masked as a log line is.
    const error = reason === undefined ? undefined : scrubString(reason);
    const was = this.#relay;
    const last = was.last_event;
    this.#relay = {
      state,
      since: was.state === state ? was.since : isoTimestamp(Date.now()),
      ...(error ? { error } : {}),
      ...(state === "unreachable" && failures ? { failures } : {}),
      ...(last ? { last_event: last } : {}),
    };
    // Each retry updates the state; the log says when it changes, or its reason does.
    const news = was.state !== state || was.error !== error;
    if (state === "unreachable") {
      if (news) this.o.log.warn("relay unreachable; retrying", { error, failures });
    } else if (state === "failed") this.o.log.error("relay feed stopped", { error });
    else this.o.log.info("relay connected");
    for (const c of this.#clients) c.stream.offer(statusFrame(this.relay(c.viewer)));
  }

  /**
   * Opens a browser stream for `viewer`: the relay state, then the visible events after `lastId`
   * (after a `reset`, when `lastId` is no longer held, the newest `backlog` ones), then live
   * events. Only the position of an event `viewer` may see is a position: any other id is not
   * held, so no answer tells whether a hidden event is still held (the gap between two visible
   * positions does still tell how many events came between them).
   */
  open(
    viewer: Viewer,
    lastId: string | undefined,
    opts: { retryMs: number; backlog: number },
  ): SseSubscriber | undefined {
    if (this.#clients.size >= this.o.maxClients) return undefined;
    const client: Client = {
      viewer,
      stream: new SseSubscriber({
        queueBytes: this.o.queueBytes,
        overflowWaitMs: this.o.overflowWaitMs,
        onEnd: () => this.#clients.delete(client),
      }),
    };
    const frames = [encodeRetry(opts.retryMs)];
    let from = Math.max(0, this.#ring.length - opts.backlog);
    if (lastId) {
      const at = this.indexOf(viewer, lastId);
      if (at >= 0) from = Math.max(from, at + 1);
      else frames.push(encodeEvent({ event: "reset", data: '{"reason":"position not held"}' }));
    }
    frames.push(statusFrame(this.relay(viewer)));
    for (let i = from; i < this.#ring.length; i++) {
      if (viewer.maySee(this.#ring[i].topic)) frames.push(eventFrame(this.#ring[i]));
    }
    // Registered in the same step as the backlog is taken: live events wait in the stream's
    // bounded queue until the backlog is written, so none is lost or sent twice.
    this.#clients.add(client);
    const stream = client.stream;
    (async () => {
      for (const f of frames) if (!await stream.write(f)) return;
      stream.goLive();
    })();
    return stream;
  }

  /**
   * Offers a frame to every browser (heartbeats), first ending the streams whose viewer no
   * longer holds (so a revoked, expired or logged-out viewer's stream ends within a heartbeat).
   */
  broadcastIfIdle(frame: Uint8Array): void {
    for (const c of [...this.#clients]) if (this.#holds(c)) c.stream.offerIfIdle(frame);
  }

  /** True while `c`'s viewer is valid; otherwise ends its stream. */
  #holds(c: Client): boolean {
    if (!c.viewer.valid || c.viewer.valid()) return true;
    c.stream.end("shutdown");
    this.#clients.delete(c);
    return false;
  }

  /** Stops the relay subscription and ends every browser stream. */
  async close(): Promise<void> {
    this.#sub.close();
    for (const c of [...this.#clients]) c.stream.end("shutdown");
    await this.#client.close();
  }
}

function eventFrame(e: DashEvent): Uint8Array {
  const { id, ...rest } = e;
  return encodeEvent({ id, event: "message", data: JSON.stringify(rest) });
}

function statusFrame(s: RelayState): Uint8Array {
  return encodeEvent({ event: "status", data: JSON.stringify({ relay: s }) });
}
