/**
 * Test helpers for the live fan-out (core/relay/hub.ts): a server whose `/s?topic=T` opens one
 * live subscriber of a hub, numbered frames, and a bounded wait for registrations.
 * @module
 */
import { createServer, encodeEvent, type Service, SseParser } from "../../../../core/http/mod.ts";
import type { Hub } from "../../../../core/relay/hub.ts";
import { type EndReason, FlushRounds, SseSubscriber } from "../../../../core/relay/stream/mod.ts";
import { TopicFilter } from "../../../../core/topic/mod.ts";
import { quietLog, type SseReader } from "../relay_helpers.ts";

/** The queue bound of the helpers' subscribers. */
export const QUEUE = 64 * 1024;

/** A server whose `/s?topic=T` (repeatable; default `t`) opens one live subscriber of `hub`. */
export async function fanOut(
  hub: Hub,
  ends: EndReason[],
  rounds: FlushRounds = new FlushRounds(),
): Promise<Service> {
  const server = createServer({ service: "t", host: "127.0.0.1", port: 0, log: quietLog });
  server.routes((app) => {
    app.get("/s", (c) => {
      const s: SseSubscriber = new SseSubscriber({
        queueBytes: QUEUE,
        rounds,
        onEnd: (why) => {
          hub.remove(s);
          ends.push(why);
        },
      });
      const topics = c.req.queries("topic") ?? ["t"];
      hub.add(s, new TopicFilter(topics));
      s.goLive();
      return c.body(s.body(), 200, { "content-type": "text/event-stream" });
    });
  });
  return await server.listen();
}

/** `n` frames of about 340 bytes, numbered from `from`. */
export function frames(from: number, n: number): Uint8Array[] {
  const pad = "x".repeat(300);
  return Array.from({ length: n }, (_, i) => encodeEvent({ id: String(from + i), data: pad }));
}

/** Waits until `hub` holds `n` subscribers. */
export async function registered(hub: Hub, n: number): Promise<void> {
  const end = Date.now() + 10_000;
  while (hub.size < n) {
    if (Date.now() > end) throw new Error(`${hub.size} of ${n} subscribers registered`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The ids of a reader's events, as numbers. */
export const ids = (r: SseReader): number[] => r.events.map((e) => Number(e.id));

/** Reads the ids of `s`'s stream (read outside the edge) until `n` arrived or it ended. */
export async function readIds(s: SseSubscriber, n: number): Promise<number[]> {
  const got: number[] = [];
  const body = s.body().pipeThrough(new TextDecoderStream()).getReader();
  const parser = new SseParser((e) => got.push(Number(e.id)));
  while (got.length < n) {
    const { value, done } = await body.read();
    if (done) break;
    parser.push(value);
  }
  await body.cancel();
  return got;
}
