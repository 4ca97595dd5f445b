/**
 * Opening a subscription: decide where to resume (or that the client must reset), register for
 * live events and replay retained history in the same synchronous step, so no event falls
 * between history and live and none is sent twice.
 * @module
 */
import { HttpError } from "../errors/mod.ts";
import type { Hub } from "./hub.ts";
import { formatPosition, parsePosition } from "./position.ts";
import { encodeEvent, encodeRetry, framedChunk } from "../http/mod.ts";
import type { RelayLog, StoredEvent } from "./store.ts";
import type { ReplayTurns, SseSubscriber } from "./stream/mod.ts";
import type { TopicFilter } from "../topic/mod.ts";

/** Default events read from the store per replay batch, at most. */
const DEFAULT_REPLAY_BATCH = 256;
/**
 * Events read by a replay's first batch, before it knows their size: later batches take as many
 * as fit its byte budget at the sizes read so far (up to the batch), so a topic of large events
 * is read a few at a time.
 */
const FIRST_REPLAY_READ = 4;

/** Where a subscription starts. */
export type StartPoint =
  | { kind: "all" }
  | { kind: "live" }
  | { kind: "after"; epoch: string; seq: number };

/**
 * Parses `Last-Event-ID` / `?since=`: an id, `0` (all retained) or `now` (live only).
 * @throws {HttpError} 400 for a malformed `Last-Event-ID` / `from` position
 */
export function parseStartPoint(value: string | undefined): StartPoint {
  if (value === undefined || value.trim() === "" || value.trim() === "0") return { kind: "all" };
  if (value.trim() === "now") return { kind: "live" };
  const pos = parsePosition(value);
  if (!pos) {
    throw new HttpError(400, "invalid resume position", {
      expected: "an event id such as k3f9x2m1ab0c-42, 0 or now",
      found: value.slice(0, 64),
    });
  }
  return { kind: "after", ...pos };
}

const utf8 = new TextEncoder();
/** An epoch checked to make a valid `id` line (letters and digits only). */
let plainEpoch: string | undefined;
const PLAIN_EPOCH = /^[A-Za-z0-9]+$/;

/**
 * The SSE frame of one stored event. An event's data is one line of JSON (`eventData`): its
 * frame is written in one step, without `encodeEvent`'s split into lines, unless the data holds
 * a line break or the epoch is not plain (then `encodeEvent` frames or refuses it).
 */
export function messageFrame(epoch: string, e: StoredEvent): Uint8Array {
  const data = e.data;
  if (epoch === plainEpoch && !data.includes("\n") && !data.includes("\r")) {
    return utf8.encode(`id: ${epoch}-${e.seq}\nevent: message\ndata: ${data}\n\n`);
  }
  const frame = encodeEvent({ id: formatPosition(epoch, e.seq), event: "message", data });
  if (PLAIN_EPOCH.test(epoch)) plainEpoch = epoch;
  return frame;
}

/** A frame of one stored event not encoded yet: `head`, `data`, a blank line (ASCII alone). */
interface PlainFrame {
  head: string;
  data: string;
  bytes: number;
}

/** Data that is not one line of ASCII (its frame is made by {@linkcode messageFrame}). */
const NOT_PLAIN = /[\n\r\u0080-\uffff]/;

/** The frame of `e`, made later straight into its chunk when it is one line of ASCII. */
function frameOf(epoch: string, e: StoredEvent): PlainFrame | Uint8Array {
  const data = e.data;
  if (epoch !== plainEpoch || NOT_PLAIN.test(data)) return messageFrame(epoch, e);
  const head = `id: ${epoch}-${e.seq}\nevent: message\ndata: `;
  return { head, data, bytes: head.length + data.length + 2 };
}

/** One replay chunk holding `frames` (`bytes` in all), encoded into its framed buffer. */
function fillChunk(frames: readonly (PlainFrame | Uint8Array)[], bytes: number): Uint8Array {
  const chunk = framedChunk(bytes);
  let at = 0;
  for (const f of frames) {
    if (f instanceof Uint8Array) {
      chunk.set(f, at);
      at += f.length;
      continue;
    }
    at += utf8.encodeInto(f.head, chunk.subarray(at)).written;
    at += utf8.encodeInto(f.data, chunk.subarray(at)).written;
    chunk[at++] = 10;
    chunk[at++] = 10;
  }
  return chunk;
}

/**
 * The replay chunks of `events`: their frames, up to `budget` bytes a chunk (at least one event
 * each), each encoded once, straight into a buffer shared by every connection that writes it
 * (and framed for the wire around it), with no frame, string or joined copy on the way.
 */
function* replayChunks(
  epoch: string,
  events: readonly StoredEvent[],
  budget: number,
): Generator<Uint8Array> {
  let frames: Array<PlainFrame | Uint8Array> = [];
  let bytes = 0;
  for (const e of events) {
    const f = frameOf(epoch, e);
    const n = f instanceof Uint8Array ? f.length : f.bytes;
    if (frames.length > 0 && bytes + n > budget) {
      yield fillChunk(frames, bytes);
      frames = [];
      bytes = 0;
    }
    frames.push(f);
    bytes += n;
  }
  if (frames.length > 0) yield fillChunk(frames, bytes);
}

/** Replay batches whose chunks {@linkcode ReplayChunks} remembers, at most. */
export const REPLAY_SHARE_ENTRIES = 1024;

/**
 * The chunks of the replay batches made lately, by what they hold (the topics, the events after
 * a position through the last one read, the chunk size): subscribers replaying the same history
 * write the same chunks, not a copy each. The chunks are held weakly: only while a connection
 * still writes or holds one (a stalled reader) is it there to share. At most `entries` batches
 * are remembered, the oldest forgotten first.
 */
export class ReplayChunks {
  readonly #made = new Map<string, WeakRef<Uint8Array>[]>();
  constructor(readonly entries: number = REPLAY_SHARE_ENTRIES) {}

  /** The chunks of batch `key`, when every one of them is still held somewhere. */
  get(key: string): Uint8Array[] | undefined {
    const refs = this.#made.get(key);
    if (!refs) return undefined;
    const chunks: Uint8Array[] = [];
    for (const r of refs) {
      const c = r.deref();
      if (!c) return void this.#made.delete(key);
      chunks.push(c);
    }
    return chunks;
  }

  /** Remembers the chunks of batch `key`. */
  set(key: string, chunks: WeakRef<Uint8Array>[]): void {
    this.#made.delete(key);
    this.#made.set(key, chunks);
    if (this.#made.size > this.entries) this.#made.delete(this.#made.keys().next().value!);
  }
}

/** Options for {@linkcode openSubscription}. */
export interface OpenOptions {
  store: RelayLog;
  hub: Hub;
  filter: TopicFilter;
  stream: SseSubscriber;
  start: StartPoint;
  retryMs: number;
  replayBatch?: number;
  /** The replay work of one turn of the event loop, shared by the isolate's replays. */
  turns?: ReplayTurns;
  /** The chunks of replay batches made lately, for replays of the same history to share. */
  shared?: ReplayChunks;
}

/** Registers the stream and starts replay; resolves when replay is done (stream is live). */
export function openSubscription(o: OpenOptions): Promise<void> {
  const { store, filter } = o;
  // Everything up to `replay` runs synchronously: the store cannot change in between.
  const upto = store.lastSeq;
  let after = 0;
  let reset: Record<string, unknown> | undefined;
  if (o.start.kind === "live") after = upto;
  else if (o.start.kind === "after") {
    const reason = o.start.epoch !== store.epoch
      ? "epoch"
      : o.start.seq > upto
      ? "ahead"
      : store.truncatedAfter(filter, o.start.seq)
      ? "truncated"
      : undefined;
    if (reason) {
      const oldest = store.oldestSeq(filter);
      reset = {
        reason,
        oldest: oldest === undefined ? null : formatPosition(store.epoch, oldest),
        epoch: store.epoch,
        // Where a client that reconnects before the next event should resume from.
        resume: formatPosition(store.epoch, oldest === undefined ? upto : oldest - 1),
      };
    } else after = o.start.seq;
  }
  o.hub.add(o.stream, filter); // the caller removes it when the stream ends
  return replay(o, { after, upto, reset, before: store.truncation(filter) });
}

interface ReplayPlan {
  after: number;
  upto: number;
  reset: Record<string, unknown> | undefined;
  /** Per-topic truncation when the subscription opened. */
  before: Map<string, number>;
}

/**
 * Replays history into `stream`: it holds at most about a quarter of its `queue_bytes` of events
 * read and not yet written (a batch's events and the chunk they are encoded into), and writes
 * chunks of that size, each once its queue has room. A replay of large events to a reader that
 * does not read so holds what its queue allows, not a batch of 256 events per subscriber (64 MiB
 * at 256 KiB each); replays of the same events write the same chunks (`o.shared`).
 */
async function replay(o: OpenOptions, plan: ReplayPlan): Promise<void> {
  const { after, upto, reset, before } = plan;
  const { store, filter, stream } = o;
  const batch = o.replayBatch ?? DEFAULT_REPLAY_BATCH;
  const budget = Math.max(1, Math.floor(stream.queueBytes / 4));
  let count = Math.min(batch, FIRST_REPLAY_READ);
  const topics = filter.patterns.join("\n");
  // The history replayed: the one its positions were taken in when the subscription opened.
  const epoch = store.epoch;
  if (!await stream.write(encodeRetry(o.retryMs))) return;
  if (reset && !await stream.write(encodeEvent({ event: "reset", data: JSON.stringify(reset) }))) {
    return;
  }
  let cursor = after;
  while (cursor < upto) {
    // Retention may evict while we wait on a slow reader; a silent gap is not allowed, so the
    // stream ends with overflow and the client resumes (and gets a reset) from its last id.
    if (evictedSince(store.truncation(filter), before, cursor)) return stream.overflow();
    const read = store.read(filter, cursor, upto, count);
    // A remote store may fetch older history; events up to `upto` never change meanwhile.
    const events = read instanceof Promise ? await read : read;
    // The stream was created again meanwhile (a remote store follows its new history): what the
    // read got may be of either history, so none of it is written (under the new epoch's ids it
    // would name other events) or shared; the subscription ends as the server ends those opened
    // in the old history, and the client resumes with a reset.
    if (store.epoch !== epoch) return stream.end("shutdown");
    if (events.length === 0) {
      if (evictedSince(store.truncation(filter), before, cursor)) return stream.overflow();
      break;
    }
    // Chunks of up to `budget` bytes (at least one event each): one socket write carries many
    // small replayed events, and no write is much more than the queue makes room for. A replay
    // of the same events made them lately: the same chunks are written again.
    const last = events[events.length - 1].seq;
    // The same events: the same first and last of the same number (retention evicts oldest first).
    const key = o.shared &&
      `${epoch}\n${topics}\n${events[0].seq}\n${last}\n${events.length}\n${budget}`;
    const made = key ? o.shared?.get(key) : undefined;
    let framed = 0;
    if (made) {
      for (const chunk of made) {
        framed += chunk.length;
        if (!await stream.write(chunk)) return;
      }
    } else {
      const refs: WeakRef<Uint8Array>[] = [];
      for (const chunk of replayChunks(epoch, events, budget)) {
        refs.push(new WeakRef(chunk));
        framed += chunk.length;
        if (!await stream.write(chunk)) return;
      }
      if (key) o.shared?.set(key, refs);
    }
    cursor = last;
    // Replays take turns: past the turn's budget this one waits for a later turn of the loop.
    const wait = o.turns?.spend(framed);
    if (wait) await wait;
    // As many events as fit the budget at this batch's mean size.
    count = Math.max(1, Math.min(batch, Math.floor(budget * events.length / framed)));
  }
  stream.goLive();
}

/** True when a topic evicted, since `before` was taken, an event above `cursor`. */
function evictedSince(now: Map<string, number>, before: Map<string, number>, cursor: number) {
  for (const [topic, through] of now) {
    // A topic born after the snapshot only has events newer than the replay's end.
    const was = before.get(topic);
    if (was !== undefined && through > cursor && through > was) return true;
  }
  return false;
}
