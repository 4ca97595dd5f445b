/**
 * Publishes on the raw path, answered at once when their body is here and later when it is not,
 * keep one order on a real socket: pipelined in one write, split at every byte, chunked; the
 * answers' sequences, the live stream and a resume from Last-Event-ID agree, with no gap and no
 * duplicate.
 */
import assert from "node:assert/strict";
import { RawConn } from "../../support/raw_http.ts";
import { openSse, seqs, startRelay } from "./relay_helpers.ts";

const enc = new TextEncoder();

const TOKEN = "pipeline-static-token-0123456789";
/** The relay's setups: open, and with a token (its check answers later, not at once). */
const SETUPS: Array<[string, Record<string, unknown>, Record<string, string>, string]> = [
  ["open", {}, {}, ""],
  ["token", { tokens: { [TOKEN]: ["publish:*", "subscribe:*"] } }, {
    authorization: `Bearer ${TOKEN}`,
  }, `authorization: Bearer ${TOKEN}\r\n`],
];
let auth = "";

function request(n: number, chunked = false): string {
  const body = JSON.stringify({ topic: "p.x", payload: { n } });
  const head =
    `POST /publish HTTP/1.1\r\nhost: localhost\r\n${auth}content-type: application/json\r\n`;
  return chunked
    ? `${head}transfer-encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`
    : `${head}content-length: ${enc.encode(body).length}\r\n\r\n${body}`;
}

for (const [name, config, headers, field] of SETUPS) {
  Deno.test(`pipelined, byte-split and chunked publishes keep one order, live and on resume (${name})`, async () => {
    auth = field;
    const relay = await startRelay(config);
    const sub = await openSse(relay.url, "topic=p.x&since=now", headers);
    const conn = await RawConn.open(Number(new URL(relay.url).port));
    try {
      await conn.write(request(1) + request(2) + request(3, true) + request(4));
      for (const b of enc.encode(request(5))) await conn.write(new Uint8Array([b]));
      await conn.write(request(6, true) + request(7));
      const answered: number[] = [];
      for (let i = 0; i < 7; i++) {
        const r = await conn.read();
        assert.ok(r, `answer ${i + 1}`);
        assert.equal(r.status, 200, r.body);
        answered.push(JSON.parse(r.body).seq);
      }
      assert.deepEqual(answered, [1, 2, 3, 4, 5, 6, 7]);
      await sub.until((e) => e.filter((x) => x.event === "message").length >= 7, 5_000, "7 events");
      assert.deepEqual(seqs(sub), [1, 2, 3, 4, 5, 6, 7]);
      assert.deepEqual(sub.messages().map((m) => (m.json.payload as { n: number }).n), [
        1,
        2,
        3,
        4,
        5,
        6,
        7,
      ]);
      const id3 = sub.messages()[2].id!;
      const resumed = await openSse(relay.url, "topic=p.x", { ...headers, "last-event-id": id3 });
      try {
        await resumed.until((e) => e.filter((x) => x.event === "message").length >= 4, 5_000, "4");
        assert.deepEqual(seqs(resumed), [4, 5, 6, 7]);
      } finally {
        await resumed.close();
      }
    } finally {
      conn.close();
      await sub.close();
      await relay.close();
    }
  });
}
