/**
 * Test helpers for the relay: start one in-process on port 0, and read SSE streams over real
 * sockets with bounded waits.
 * @module
 */
import { command, type RelayConfig } from "../../../cmd/relay.ts";
import type { MemoryStore } from "../../../core/relay/memory_store.ts";
import { type RelayServerOptions, startRelayServer } from "../../../core/relay/server.ts";
import type { DeepPartial } from "../../../core/config/mod.ts";
import { type Service, type SseEvent, SseParser } from "../../../core/http/mod.ts";
import { createLogger } from "../../../core/log/mod.ts";
import { delay, startIatpService } from "../../helpers.ts";
import { exchange, json, RawConn } from "../../support/raw_http.ts";

/** A logger that writes nothing (tests assert on behaviour, not log lines). */
export const quietLog = createLogger({ service: "relay-test", level: "error", sink: () => {} });

/** Starts a relay in-process on a free port (one isolate unless `overrides` say). */
export function startRelay(overrides: DeepPartial<RelayConfig> = {}): Promise<Service> {
  return command.start(command.resolve({ port: 0, workers: 1, ...overrides }), { log: quietLog });
}

/** Publishes through plain fetch; returns status and JSON body. */
export async function publish(
  url: string,
  topic: unknown,
  payload: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/publish`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ topic, payload }),
  });
  return { status: res.status, body: await res.json() };
}

/** An open SSE stream collecting parsed events. */
export interface SseReader {
  status: number;
  events: SseEvent[];
  /** Message events only. */
  messages(): Array<SseEvent & { json: Record<string, unknown> }>;
  /** Waits until `pred(events)` holds. */
  until(pred: (events: SseEvent[]) => boolean, timeoutMs?: number, what?: string): Promise<void>;
  /** Resolves when the server ended the stream. */
  ended: Promise<void>;
  close(): Promise<void>;
}

/** Opens `GET {url}/subscribe?{query}` and parses events as they arrive. */
export function openSse(
  url: string,
  query: string,
  headers: Record<string, string> = {},
): Promise<SseReader> {
  return openStream(`${url}/subscribe?${query}`, headers);
}

/** Opens any SSE URL (relay or dashboard) and parses events as they arrive. */
export async function openStream(
  url: string,
  headers: Record<string, string> = {},
): Promise<SseReader> {
  const ac = new AbortController();
  const res = await fetch(url, { headers, signal: ac.signal });
  const events: SseEvent[] = [];
  const parser = new SseParser((e) => events.push(e));
  let ended: Promise<void> = Promise.resolve();
  let reader: ReadableStreamDefaultReader<string> | undefined;
  if (res.status === 200 && res.body) {
    reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    ended = (async () => {
      try {
        for (;;) {
          const { value, done } = await reader!.read();
          if (done) return;
          parser.push(value);
        }
      } catch { /* aborted by close() */ }
    })();
  } else {
    events.push({ event: "http-error", data: await res.text() });
  }
  return {
    status: res.status,
    events,
    messages: () =>
      events.filter((e) => e.event === "message").map((e) => ({ ...e, json: JSON.parse(e.data) })),
    async until(pred, timeoutMs = 15_000, what = "events") {
      const end = Date.now() + timeoutMs;
      while (!pred(events)) {
        if (Date.now() > end) {
          throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(events.slice(-5))}`);
        }
        await delay(10);
      }
    },
    ended,
    async close() {
      // Cancel the reader first: an abort alone does not always wake a pending read.
      await reader?.cancel().catch(() => {});
      ac.abort();
      await ended;
    },
  };
}

/** Sequence numbers of the message events. */
export function seqs(reader: SseReader): number[] {
  return reader.messages().map((m) => m.json.seq as number);
}

/** `/health` of each of `n` fresh connections (the kernel picks the isolate per connection). */
export async function healths(
  port: number,
  n: number,
): Promise<Array<Record<string, unknown>>> {
  const out = [];
  for (let i = 0; i < n; i++) {
    const r = await exchange(
      port,
      "GET /health HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n",
    );
    if (!r) throw new Error("no answer to /health");
    out.push(json(r));
  }
  return out;
}

/** Starts `iatp relay` as a process on a free port, storing on the JetStream server at `url`. */
export function startJsRelay(url: string, ...extra: string[]) {
  return startIatpService(["relay", "--port=0", "--compat=iatp", "--store", url, ...extra]);
}

/**
 * Fills topic `big` of `store` with `events` events of `eventBytes` bytes each and starts a relay
 * server on it (one isolate, heartbeats and expiry out of the way) with `opts` on top.
 */
export function startHistoryRelay(
  store: MemoryStore,
  events: number,
  eventBytes: number,
  opts: Partial<RelayServerOptions>,
): Promise<Service> {
  const blob = "x".repeat(eventBytes);
  for (let i = 0; i < events; i++) {
    store.append("big", `e${i}`, JSON.stringify({ blob }), Date.now());
  }
  return startRelayServer({
    host: "127.0.0.1",
    port: 0,
    log: quietLog,
    store,
    heartbeatMs: 60_000,
    retryMs: 1_000,
    expireIntervalMs: 60_000,
    compat: "iatp",
    ...opts,
  });
}

/** Opens `n` subscriptions to topic `big` from its start that never read; pushed onto `into`. */
export async function openStalled(port: number, n: number, into: RawConn[]): Promise<void> {
  for (let i = 0; i < n; i++) {
    const c = await RawConn.open(port);
    await c.write("GET /subscribe?topic=big&since=0 HTTP/1.1\r\nHost: localhost\r\n\r\n");
    into.push(c);
  }
}
