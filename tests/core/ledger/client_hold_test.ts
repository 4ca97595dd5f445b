/**
 * The audit client's queue against a real `iatp audit`: appends that fail for a passing reason
 * (the ledger not there yet) are held in order and delivered once it is, never dropped; close
 * drops, counts and logs what is still held.
 */
import assert from "node:assert/strict";
import { command, start } from "../../../cmd/audit.ts";
import { AuditClient } from "../../../core/ledger/client/mod.ts";
import { createLogger, silentLogger } from "../../../core/log/mod.ts";
import { freePort, tempDir, waitFor } from "../../helpers.ts";

Deno.test("queued appends wait for a ledger that is not up yet, in order, none dropped", async () => {
  const dir = await tempDir("iatp-audit-hold-");
  const port = freePort();
  const lines: string[] = [];
  const log = createLogger({ service: "t", level: "warn", sink: (l) => void lines.push(l) });
  // One attempt per append: before, the first failure dropped the entry.
  const client = new AuditClient({ url: `http://127.0.0.1:${port}`, attempts: 1, log });
  const entry = (i: number) => ({ tx_id: `h${i}`, event: "e", actor: "a", payload: { i } });
  for (let i = 0; i < 3; i++) assert.equal(client.enqueue(entry(i)), true);
  await waitFor(() => lines.some((l) => l.includes("holding the queue")), 15_000, "held");
  assert.equal(client.dropped, 0);
  const svc = await start(
    command.resolve({ port, db: `${dir.path}/audit.db`, compat: "iatp" }),
    { log: silentLogger },
  );
  try {
    await waitFor(() => client.pending === 0, 30_000, "delivered");
    assert.equal(client.dropped, 0);
    const got = [];
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${svc.url}/entries/${i}`);
      got.push(((await res.json()) as { tx_id: string }).tx_id);
    }
    assert.deepEqual(got, ["h0", "h1", "h2"]);
  } finally {
    await client.close();
    await svc.close();
    await dir.remove();
  }
});

Deno.test("close drops, counts and logs appends still held for a ledger never reached", async () => {
  const lines: string[] = [];
  const log = createLogger({ service: "t", level: "warn", sink: (l) => void lines.push(l) });
  const client = new AuditClient({ url: `http://127.0.0.1:${freePort()}`, attempts: 1, log });
  for (let i = 0; i < 2; i++) {
    client.enqueue({ tx_id: `c${i}`, event: "e", actor: "a", payload: {} });
  }
  await waitFor(() => lines.some((l) => l.includes("holding the queue")), 15_000, "held");
  await client.close(200);
  assert.equal(client.dropped, 2);
  assert.equal(client.pending, 0);
  assert.ok(lines.some((l) => l.includes("not delivered before close")));
});

Deno.test("close waits flushTimeoutMs for a ledger never reached, then drops what is held", async () => {
  const client = new AuditClient({
    url: `http://127.0.0.1:${freePort()}`,
    attempts: 1,
    log: silentLogger,
    flushTimeoutMs: 200,
  });
  client.enqueue({ tx_id: "f0", event: "e", actor: "a", payload: {} });
  // The default wait (10 s) is past this bound: only flushTimeoutMs ends the close in time.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("close outlasted flushTimeoutMs")), 5_000);
  });
  try {
    await Promise.race([client.close(), late]);
  } finally {
    clearTimeout(timer);
  }
  assert.equal(client.dropped, 1);
});
