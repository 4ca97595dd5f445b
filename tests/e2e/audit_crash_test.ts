/**
 * kill -9 in the middle of a stream of appends: every acknowledged entry survives, nothing
 * partial is left, and the log verifies after restart.
 */
import assert from "node:assert/strict";
import { runIatp, startIatpService, tempDir, waitFor } from "../helpers.ts";
import { refVerifyReceipt } from "../core/ledger/rfc6962_reference.ts";

const WORKERS = 8;
const ACKS_BEFORE_KILL = 300;

Deno.test("audit survives kill -9 mid-stream without losing an acknowledged entry", async () => {
  const dir = await tempDir("iatp-audit-crash-");
  const env = { IATP_DATA_DIR: dir.path };
  const db = `${dir.path}/audit.db`;
  const args = ["audit", "--port", "0", "--db", db];
  const first = await startIatpService(args, { env });
  const acked: Array<{ index: number; tx_id: string; receipt: unknown }> = [];
  let stop = false;
  const worker = async (w: number) => {
    for (let i = 0; !stop; i++) {
      try {
        const res = await fetch(`${first.url}/audit`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            tx_id: `w${w}-${i}`,
            event: "crash.test",
            actor: `w${w}`,
            payload: { i },
          }),
        });
        if (res.status !== 200) {
          await res.body?.cancel();
          continue;
        }
        const body = await res.json();
        acked.push({ index: body.index, tx_id: `w${w}-${i}`, receipt: body.receipt });
      } catch {
        return; // the server died mid-request: that append was never acknowledged
      }
    }
  };
  const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));
  try {
    await waitFor(() => acked.length >= ACKS_BEFORE_KILL, 60_000, "appends before the kill");
    first.process.kill("SIGKILL");
    await first.process.status;
    stop = true;
    await Promise.all(workers);
    await first.stop();

    const second = await startIatpService(args, { env });
    try {
      const cp =
        await (await fetch(`${second.url}/checkpoint`, { headers: { accept: "application/json" } }))
          .json();
      assert.ok(cp.tree_size >= acked.length, `tree ${cp.tree_size} < ${acked.length} acks`);
      for (const a of acked) {
        const res = await fetch(`${second.url}/entries/${a.index}`);
        assert.equal(res.status, 200, `entry ${a.index} lost`);
        const e = await res.json();
        assert.equal(e.tx_id, a.tx_id);
        assert.ok(await refVerifyReceipt(e, e.receipt, cp.vkey), `receipt of ${a.index}`);
      }
      // An appended-after-restart entry extends the same tree.
      const more = await fetch(`${second.url}/audit`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ tx_id: "after", event: "crash.test", actor: "t", payload: {} }),
      });
      assert.equal(more.status, 200);
      assert.equal((await more.json()).index, cp.tree_size);
    } finally {
      await second.stop();
    }
    const verify = await runIatp(["audit", "verify", "--db", db], { env });
    assert.equal(verify.code, 0, verify.stderr);
  } finally {
    stop = true;
    await first.stop("SIGKILL");
    await dir.remove();
  }
});
