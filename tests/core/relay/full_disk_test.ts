/**
 * A relay whose SQLite folder fills up: a publish it cannot write answers 503 with Retry-After
 * and the store's reason (never an acknowledgement of an event it did not store, never a 500),
 * `/health` says degraded meanwhile and ok once a publish is written again, and after a restart
 * every acknowledged event is there. Needs root (a tmpfs).
 */
import assert from "node:assert/strict";
import { tempDir } from "../../helpers.ts";
import { canMountTmpfs, fill, mountTmpfs } from "../../support/tmpfs.ts";
import { startRelay } from "./relay_helpers.ts";

type Answer = { status: number; retryAfter: string | null; body: Record<string, unknown> };

async function post(url: string, i: number): Promise<Answer> {
  const res = await fetch(`${url}/publish`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ topic: "t", payload: { i, pad: "x".repeat(1000) } }),
  });
  return { status: res.status, retryAfter: res.headers.get("retry-after"), body: await res.json() };
}

async function health(url: string): Promise<Record<string, unknown>> {
  return await (await fetch(`${url}/health`)).json();
}

Deno.test({
  name: "relay on a full disk: 503 with the reason, /health degraded, acknowledged events kept",
  ignore: !canMountTmpfs(),
}, async () => {
  const dir = await tempDir("iatp-relay-full-");
  const fs = mountTmpfs(dir.path, "2m");
  const config = { store: `sqlite:${dir.path}/relay.db`, compat: "iatp" as const };
  let relay = await startRelay(config);
  const acked: number[] = [];
  try {
    for (let i = 0; i < 20; i++) acked.push(Number((await post(relay.url, i)).body.seq));
    assert.equal((await health(relay.url)).status, "ok");
    const filler = await fill(dir.path);
    let refused: Answer | undefined;
    for (let i = 20; i < 2000 && !refused; i++) {
      const a = await post(relay.url, i);
      if (a.status === 201) acked.push(Number(a.body.seq));
      else refused = a;
    }
    assert.ok(refused, "a full disk refuses a publish");
    assert.equal(refused.status, 503);
    assert.equal(refused.retryAfter, "1");
    assert.equal(refused.body.error, "relay store cannot write: database or disk is full");
    const h = await health(relay.url);
    assert.equal(h.status, "degraded");
    assert.equal(h.reason, "store: cannot write: database or disk is full");
    assert.doesNotMatch(JSON.stringify(h), new RegExp(dir.path));

    await Deno.remove(filler);
    const again = await post(relay.url, 9999);
    assert.equal(again.status, 201);
    acked.push(Number(again.body.seq));
    assert.equal((await health(relay.url)).status, "ok");

    await relay.close();
    relay = await startRelay(config);
    const topics = await (await fetch(`${relay.url}/topics`)).json();
    const t = topics.topics.find((x: { topic: string }) => x.topic === "t");
    assert.equal(t.count, acked.length, "every acknowledged event survived the restart");
    assert.equal(t.last_seq, acked.at(-1));
    assert.deepEqual(acked, acked.map((_, i) => i + 1), "no acknowledged seq was skipped");
  } finally {
    await relay.close();
    fs.unmount();
    await dir.remove();
  }
});
