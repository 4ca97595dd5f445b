/**
 * The dashboard's view of the mesh: one resumable relay subscription feeding a bounded ring of
 * recent events, per-topic counters and the relay's reachability, fanned out to browsers over
 * the dashboard's own same-origin SSE endpoint. Browsers never talk to the relay.
 * @module
 */
import type { Logger } from "../log/mod.ts";
import { RelayClient, type RelayEvent } from "../relay/client.ts";
import { encodeEvent, encodeRetry } from "../relay/sse.ts";
import { SseSubscriber } from "../relay/subscriber.ts";

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

/** Default number of recent events kept (page render, browser resume, /tx lookups). */
export const DEFAULT_HISTORY = 1000;

/** Whether the relay is reachable, as shown on the page. */
export interface RelayState {
  state: "connecting" | "connected" | "unreachable";
  error?: string;
  since: string;
}

/** Options for {@linkcode DashboardFeed}. */
export interface FeedOptions {
  relayUrl: string;
  relayToken?: string;
  topics: string[];
  history: number;
  queueBytes: number;
  maxClients: number;
  log: Logger;
}

/** The live feed; see the module doc. */
export class DashboardFeed {
  readonly #ring: RelayEvent[] = [];
  readonly #seen = new Set<string>();
  readonly #counts = new Map<string, number>();
  readonly #clients = new Set<SseSubscriber>();
  readonly #client: RelayClient;
  readonly #sub: { close(): void };
  #relay: RelayState = { state: "connecting", since: new Date().toISOString() };

  constructor(private readonly o: FeedOptions) {
    this.#client = new RelayClient({
      url: o.relayUrl,
      token: o.relayToken,
      log: o.log,
      backoffMinMs: 250,
      backoffMaxMs: 3_000,
      idleTimeoutMs: 60_000,
    });
    this.#sub = this.#client.subscribe(o.topics, (e) => this.#add(e), {
      onStatus: (s, err) => this.#setRelay(s === "connected" ? "connected" : "unreachable", err),
      onReset: (oldest) => o.log.info("relay history reset", { oldest }),
    });
  }

  /** Recent events, oldest first. */
  events(): readonly RelayEvent[] {
    return this.#ring;
  }

  /** Events seen per topic since the dashboard started. */
  counts(): Map<string, number> {
    return new Map(this.#counts);
  }

  /** The relay's reachability. */
  relay(): RelayState {
    return this.#relay;
  }

  /** Browsers connected now. */
  get clients(): number {
    return this.#clients.size;
  }

  #add(e: RelayEvent): void {
    // A relay reset replays history we may already hold: the event_id identifies it.
    if (this.#seen.has(e.event_id)) return;
    this.#ring.push(e);
    this.#seen.add(e.event_id);
    if (this.#ring.length > this.o.history) this.#seen.delete(this.#ring.shift()!.event_id);
    this.#counts.set(e.topic, (this.#counts.get(e.topic) ?? 0) + 1);
    const frame = eventFrame(e);
    for (const c of this.#clients) c.offer(frame);
  }

  #setRelay(state: RelayState["state"], error?: string): void {
    this.#relay = { state, since: new Date().toISOString(), ...(error ? { error } : {}) };
    if (state === "unreachable") this.o.log.warn("relay unreachable; retrying", { error });
    else this.o.log.info("relay connected");
    const frame = statusFrame(this.#relay);
    for (const c of this.#clients) c.offer(frame);
  }

  /**
   * Opens a browser stream: the relay state, then the events after `lastId` (all recent ones,
   * after a `reset`, when `lastId` is no longer held), then live events.
   */
  open(lastId: string | undefined, retryMs: number): SseSubscriber | undefined {
    if (this.#clients.size >= this.o.maxClients) return undefined;
    const stream = new SseSubscriber({
      queueBytes: this.o.queueBytes,
      onEnd: () => this.#clients.delete(stream),
    });
    const frames = [encodeRetry(retryMs)];
    let from = 0;
    if (lastId) {
      const at = this.#ring.findIndex((e) => e.id === lastId);
      if (at >= 0) from = at + 1;
      else frames.push(encodeEvent({ event: "reset", data: '{"reason":"position not held"}' }));
    }
    frames.push(statusFrame(this.#relay), ...this.#ring.slice(from).map(eventFrame));
    // Registered in the same step as the backlog is taken: live events wait in the stream's
    // bounded queue until the backlog is written, so none is lost or sent twice.
    this.#clients.add(stream);
    (async () => {
      for (const f of frames) if (!await stream.write(f)) return;
      stream.goLive();
    })();
    return stream;
  }

  /** Offers a frame to every browser (heartbeats). */
  broadcastIfIdle(frame: Uint8Array): void {
    for (const c of this.#clients) c.offerIfIdle(frame);
  }

  /** Stops the relay subscription and ends every browser stream. */
  async close(): Promise<void> {
    this.#sub.close();
    for (const c of [...this.#clients]) c.end("shutdown");
    await this.#client.close();
  }
}

function eventFrame(e: RelayEvent): Uint8Array {
  const { id, ...rest } = e;
  return encodeEvent({ id, event: "message", data: JSON.stringify(rest) });
}

function statusFrame(s: RelayState): Uint8Array {
  return encodeEvent({ event: "status", data: JSON.stringify({ relay: s }) });
}
