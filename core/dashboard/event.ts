/**
 * The dashboard's event: a relay event with its payload masked (values under secret-looking keys
 * replaced, secret-shaped strings, card numbers and SSNs scrubbed, member names included) and
 * described as a sentence. Masking happens once,
 * when the event arrives, so nothing the dashboard keeps, renders or answers holds a secret.
 * Also the viewer (who is looking, and which topics it may see) and event search.
 * @module
 */
import { scrub } from "../log/mod.ts";
// Also installs the card and SSN scrubber of every string scrub() writes (log lines included).
import { hasPiiSizedNumber, redactPiiNumbers } from "../pii/mod.ts";
import type { RelayEvent } from "../relay/client/mod.ts";
import { type DecisionKind, describeEvent, type IntentBrief, isDecision } from "./describe.ts";

/** Transaction ids the dashboard links to and looks up. */
export const TX_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** One event as the dashboard keeps and serves it. */
export interface DashEvent {
  /** Relay position (`<epoch>-<seq>`), the SSE id. */
  id: string;
  event_id: string;
  seq: number;
  ts: string;
  topic: string;
  /** The payload, masked. */
  payload: Record<string, unknown>;
  /** Who published it, when the relay attached an identity. */
  publisher?: string;
  summary: string;
  decision?: DecisionKind;
  reason?: string;
  /** Transaction id (tx_id, else trace_id), when well-formed. */
  tx?: string;
  agent?: string;
}

/** Who is looking: what the page, the stream and the JSON answers are filtered by. */
export interface Viewer {
  /** The credential subject, or `anonymous` when auth is off. */
  id: string;
  /** True when this viewer holds a `subscribe:` grant covering `topic`. */
  maySee(topic: string): boolean;
  /**
   * Names what this viewer may see: viewers with the same key see the same topics, so the feed
   * keeps one summary of what they see (how many events, the newest) per key. Absent: the
   * summary is made again, from the held topics, for each question.
   */
  sees?: string;
  /**
   * True when the viewer's credential grants no `subscribe:` scope at all: it sees no event
   * whatever arrives (the pages say so, instead of "no events yet").
   */
  seesNoTopic?: boolean;
  /** True when the dashboard requires a login (shows the logout button). */
  authenticated: boolean;
  /**
   * False once the credential or session this viewer came from no longer holds: revoked,
   * expired, or logged out. The feed then ends the viewer's open streams. Absent: always valid.
   */
  valid?(): boolean;
}

/** The viewer when auth is off (loopback, or `insecure`): sees everything. */
export const OPEN_VIEWER: Viewer = {
  id: "anonymous",
  maySee: () => true,
  sees: "*",
  authenticated: false,
};

/** The transaction id a payload refers to (tx_id, else trace_id), when well-formed. */
export function txIdOf(payload: Record<string, unknown>): string | undefined {
  const v = typeof payload.tx_id === "string"
    ? payload.tx_id
    : typeof payload.trace_id === "string"
    ? payload.trace_id
    : undefined;
  return v !== undefined && TX_ID.test(v) ? v : undefined;
}

/**
 * Bidirectional formatting characters (marks, embeddings, overrides, isolates): text holding one
 * is drawn in another order than it is stored, so `evil\u202Egnp.exe` reads as `evilexe.png`,
 * and a name can make the sentence around it read backwards.
 */
const BIDI_CONTROLS = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;

/** `text` with every bidirectional formatting character shown as U+FFFD, in stored order. */
export function plainText(text: string): string {
  return text.replace(BIDI_CONTROLS, "\uFFFD");
}

/** `value` with {@linkcode plainText} applied to every string, member names included. */
function plainValue(value: unknown): unknown {
  if (typeof value === "string") return plainText(value);
  // Recursion is bounded: scrub() has cut anything deeper than its bound already.
  if (Array.isArray(value)) return value.map(plainValue);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[plainText(k)] = plainValue(v);
  return out;
}

/**
 * Masks a relay payload (always an object): secrets, then cards and SSNs, numbers included;
 * bidirectional formatting characters are shown as U+FFFD ({@linkcode plainText}).
 */
export function maskPayload(p: Record<string, unknown>): Record<string, unknown> {
  const scrubbed = scrub(p);
  const masked = hasPiiSizedNumber(scrubbed) ? redactPiiNumbers(scrubbed) : scrubbed;
  const out = plainValue(masked);
  return out !== null && typeof out === "object" && !Array.isArray(out)
    ? out as Record<string, unknown>
    : {};
}

/** Builds the dashboard event of a relay event. */
export function toDashEvent(
  e: RelayEvent,
  intentOf: (txId: string) => IntentBrief | undefined,
): DashEvent {
  const payload = maskPayload(e.payload ?? {});
  const d = describeEvent(e.topic, payload, intentOf);
  const published = Reflect.get(e, "publisher");
  const publisher = typeof published === "string" ? plainText(published) : undefined;
  const tx = txIdOf(payload);
  return {
    id: e.id,
    event_id: e.event_id,
    seq: e.seq,
    ts: e.ts,
    topic: e.topic,
    payload,
    ...(publisher ? { publisher } : {}),
    summary: d.summary,
    ...(d.decision ? { decision: d.decision } : {}),
    ...(d.reason ? { reason: d.reason } : {}),
    ...(tx ? { tx } : {}),
    ...(d.agent ? { agent: d.agent } : {}),
  };
}

/** A search over recent events; every given field must match. */
export interface EventQuery {
  tx?: string;
  agent?: string;
  topic?: string;
  decision?: DecisionKind;
  /** Free text, matched case-insensitively against summary, topic, tx and agent. */
  q?: string;
  /** Only events older than this position (paging). */
  before?: string;
  limit: number;
}

/** Most events one search answers. */
const MAX_PAGE = 200;
const QUERY_TEXT = /^\P{Cc}{1,128}$/u;

/** Reads a query from URL parameters; invalid values are dropped, never trusted. */
export function parseQuery(
  get: (name: string) => string | undefined,
  pageSize: number,
): EventQuery {
  const text = (name: string) => {
    const v = get(name)?.trim();
    return v && QUERY_TEXT.test(v) ? v : undefined;
  };
  const decision = get("decision");
  const limit = Number(get("limit"));
  return {
    tx: text("tx"),
    agent: text("agent"),
    topic: text("topic"),
    decision: isDecision(decision) ? decision : undefined,
    q: text("q")?.toLowerCase(),
    before: text("before"),
    limit: Number.isInteger(limit) && limit > 0 ? Math.min(limit, MAX_PAGE) : pageSize,
  };
}

/** True when `e` matches every field of `q` (paging aside). */
function matchesQuery(e: DashEvent, q: EventQuery): boolean {
  if (q.topic && e.topic !== q.topic) return false;
  if (q.decision && e.decision !== q.decision) return false;
  if (q.tx && !(e.tx ?? "").includes(q.tx)) return false;
  if (q.agent && !(e.agent ?? "").includes(q.agent)) return false;
  if (q.q) {
    const hay = `${e.summary}\n${e.topic}\n${e.tx ?? ""}\n${e.agent ?? ""}`.toLowerCase();
    if (!hay.includes(q.q)) return false;
  }
  return true;
}

/** The held events, with the questions a search asks of them answered without a walk. */
export interface HeldEvents {
  /** Held events, oldest first. */
  events(): readonly DashEvent[];
  /** The index of the held event `id` when `viewer` may see it, else -1. */
  indexOf(viewer: Viewer, id: string): number;
  /** How many held events `viewer` may see, and the index of the newest (-1: none). */
  visible(viewer: Viewer): { count: number; newest: number };
  /** The indexes below `below` of the events `viewer` may see, newest first. */
  visibleIndexes(viewer: Viewer, below: number): Iterable<number>;
  /** The bytes of the event at `index`, as its JSON is streamed. */
  bytesAt(index: number): number;
  /** The indexes of transaction `tx`'s events from `from` on, oldest first. */
  txIndexes(tx: string, from: number): Iterable<number>;
}

/**
 * The newest events (newest first) that `viewer` may see and that match `q`, scanning from the
 * newest event `viewer` may see down, or below `q.before` when it names an event `viewer` may
 * see; `more` says whether older matches exist. The events found hold at most `maxBytes` (each
 * counted as its JSON is streamed), and at least one: past the bound the answer holds fewer
 * than `q.limit`, with `more` set, so the next page continues below the last one.
 */
export function searchEvents(
  held: HeldEvents,
  viewer: Viewer,
  q: EventQuery,
  maxBytes = Infinity,
): { events: DashEvent[]; more: boolean } {
  const events = held.events();
  const visible = held.visible(viewer);
  let i = visible.newest;
  if (q.before) {
    // Only a visible event is a position: a hidden one answers as an unknown one does.
    const at = held.indexOf(viewer, q.before);
    if (at >= 0) i = at - 1;
  }
  // A viewer who sees few of the held events walks only those (its topics' positions merged);
  // one who sees most walks the events, passing over the others.
  const sparse = visible.count * 2 < events.length;
  const order = sparse ? held.visibleIndexes(viewer, i + 1) : countdown(i);
  const out: DashEvent[] = [];
  let bytes = 0;
  // Every event this viewer may see was passed once `left` reaches 0: no older one is looked at.
  let left = visible.count;
  for (const at of order) {
    if (left === 0) break;
    const e = events[at];
    if (!sparse && !viewer.maySee(e.topic)) continue;
    left--;
    if (!matchesQuery(e, q)) continue;
    if (out.length === q.limit) return { events: out, more: true };
    const size = held.bytesAt(at);
    if (out.length > 0 && bytes + size > maxBytes) {
      return { events: out, more: true };
    }
    bytes += size;
    out.push(e);
  }
  return { events: out, more: false };
}

function* countdown(from: number): Generator<number> {
  for (let i = from; i >= 0; i--) yield i;
}

/**
 * The held events of transaction `txId` that `viewer` may see, oldest first, after `after` when
 * it names an event `viewer` may see (else from the oldest). They hold at most `maxBytes` (each
 * counted as its JSON is streamed), and at least one: past the bound `more` is set and
 * `next_after` names the last one, where the next answer continues; `continued` says `after`
 * was a position.
 */
export function txEvents(
  held: HeldEvents,
  viewer: Viewer,
  txId: string,
  after: string | undefined,
  maxBytes = Infinity,
): { events: DashEvent[]; more: boolean; next_after: string | null; continued: boolean } {
  const events = held.events();
  const at = after ? held.indexOf(viewer, after) : -1;
  const continued = at >= 0;
  const out: DashEvent[] = [];
  let bytes = 0;
  for (const i of held.txIndexes(txId, at + 1)) {
    const e = events[i];
    if (!viewer.maySee(e.topic)) continue;
    const size = held.bytesAt(i);
    if (out.length > 0 && bytes + size > maxBytes) {
      return { events: out, more: true, next_after: out.at(-1)!.id, continued };
    }
    bytes += size;
    out.push(e);
  }
  return { events: out, more: false, next_after: null, continued };
}
