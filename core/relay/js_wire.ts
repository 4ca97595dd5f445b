/**
 * How a relay event sits in the JetStream stream: the subject names the topic, the body is the
 * payload's JSON exactly as accepted, and headers carry what the relay added (event id, publish
 * time, the authenticated publisher, the sequence of the topic's previous event). Every replica
 * builds the same SSE data line from a message, so ids and data agree across replicas.
 * @module
 */
import type { MsgHdrs } from "@nats-io/transport-node";
import { type NatsEngine, subjectTopic } from "../nats/mod.ts";
import { eventData, type StoredEvent } from "./store.ts";

/** The event's UUID. */
export const HDR_EVENT_ID = "Iatp-Event-Id";
/** Publish time, ms since the epoch, as the accepting relay read its clock. */
export const HDR_TS = "Iatp-Ts";
/** The principal the relay authenticated (absent: anonymous). Set by the relay, never a client. */
export const HDR_PUBLISHER = "Iatp-Publisher";
/** Sequence of the previous event on the same topic (0: none), checked by the engine on write. */
export const HDR_PREV = "Iatp-Prev";

/** What the relay writes with one event. */
export interface EventHeaders {
  eventId: string;
  tsMs: number;
  prev: number;
  publisher?: string;
}

/**
 * Fresh headers for one publish (a headers object is never reused: the client adds its own).
 *
 * @example
 * ```ts
 * eventHeaders(engine, { eventId: "e1", tsMs: 1, prev: 0 }).get("Iatp-Prev"); // "0"
 * ```
 */
export function eventHeaders(engine: NatsEngine, h: EventHeaders): MsgHdrs {
  const out = engine.headers();
  out.set(HDR_EVENT_ID, h.eventId);
  out.set(HDR_TS, String(h.tsMs));
  out.set(HDR_PREV, String(h.prev));
  if (h.publisher !== undefined) out.set(HDR_PUBLISHER, h.publisher);
  return out;
}

/** A message as read back: stream sequence, subject, headers, body. */
export interface StreamMessage {
  seq: number;
  subject: string;
  headers?: MsgHdrs;
  /** Server time the stream stored it, ms (age retention). */
  storedMs: number;
  body: Uint8Array;
}

/** One event read from the stream, with its chain pointer. */
export interface TailedEvent {
  event: StoredEvent;
  /** Sequence of the topic's previous event (0: none). */
  prev: number;
  /** Server time it was stored, ms (what the engine's age bound counts from). */
  storedMs: number;
}

const decoder = new TextDecoder();

function nonNegative(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d{1,16}$/.test(v)) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * The relay event in a stream message; undefined for a message the relay did not write (wrong
 * subject, missing headers, a body that is not a JSON object).
 */
export function tailedEvent(prefix: string, m: StreamMessage): TailedEvent | undefined {
  const topic = subjectTopic(prefix, m.subject);
  const h = m.headers;
  const eventId = h?.get(HDR_EVENT_ID) ?? "";
  const tsMs = nonNegative(h?.get(HDR_TS));
  const prev = nonNegative(h?.get(HDR_PREV));
  if (topic === undefined || eventId === "" || tsMs === undefined || prev === undefined) {
    return undefined;
  }
  const payload = decoder.decode(m.body);
  if (!payload.startsWith("{")) return undefined;
  const by = h?.get(HDR_PUBLISHER) || undefined;
  const event: StoredEvent = {
    seq: m.seq,
    topic,
    tsMs,
    data: eventData(eventId, m.seq, tsMs, topic, payload, by),
    ...(by === undefined ? {} : { publisher: by }),
  };
  return { event, prev, storedMs: m.storedMs };
}

/** What a consumer outside the relay reads from one relay event in the stream. */
export interface StreamRelayEvent {
  topic: string;
  event_id: string;
  /** The principal the relay authenticated; absent for an anonymous publish. */
  publisher?: string;
  /** The payload; undefined when the body is not a JSON object. */
  payload: Record<string, unknown> | undefined;
}

/**
 * The relay event in a message of the relay's stream (or of a stream sourcing from it), for a
 * consumer that reads the engine directly; undefined for a message the relay did not write.
 *
 * @example
 * ```ts
 * streamRelayEvent("relay", { subject: "relay.a", headers, body }); // { topic: "a", ... }
 * ```
 */
export function streamRelayEvent(
  prefix: string,
  m: Pick<StreamMessage, "subject" | "headers" | "body">,
): StreamRelayEvent | undefined {
  const t = tailedEvent(prefix, { ...m, seq: 0, storedMs: 0 });
  if (t === undefined) return undefined;
  let payload: Record<string, unknown> | undefined;
  try {
    const v: unknown = JSON.parse(decoder.decode(m.body));
    if (typeof v === "object" && v !== null && !Array.isArray(v)) {
      payload = v as Record<string, unknown>;
    }
  } catch {
    payload = undefined;
  }
  const eventId = m.headers?.get(HDR_EVENT_ID) ?? "";
  return {
    topic: t.event.topic,
    event_id: eventId,
    ...(t.event.publisher === undefined ? {} : { publisher: t.event.publisher }),
    payload,
  };
}
