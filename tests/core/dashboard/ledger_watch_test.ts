// The ledger card's proofs (core/ledger/proof) load with its first check, not with the dashboard's
// start. A check whose proofs cannot be loaded fails with a reason saying so (no checkpoint shown
// unchecked), and the next check tries again.
import assert from "node:assert/strict";
import { ROOT, tempDir } from "../../helpers.ts";

/** One check of a LedgerWatch on an address nothing listens on, in a process of its own. */
async function checkOnce(denyProofs: boolean): Promise<Record<string, unknown>> {
  const dir = await tempDir("iatp-ledger-watch-");
  try {
    const probe = `${dir.path}/probe.ts`;
    await Deno.writeTextFile(
      probe,
      `import { LedgerWatch } from ${
        JSON.stringify(`file://${ROOT}core/dashboard/ledger_watch.ts`)
      };
const w = new LedgerWatch({ url: "http://127.0.0.1:9", intervalMs: 60_000, timeoutMs: 2_000 });
await w.check();
await w.check();
console.log(JSON.stringify(w.snapshot()));
`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        ...["run", "--quiet", "--allow-net", "--allow-read"],
        ...(denyProofs ? [`--deny-read=${ROOT}core/ledger/proof/note.ts`] : []),
        probe,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, text + new TextDecoder().decode(out.stderr));
    return JSON.parse(text);
  } finally {
    await dir.remove();
  }
}

Deno.test("ledger card: proofs that cannot be loaded fail each check with a reason", async () => {
  const failed = await checkOnce(true);
  assert.equal(failed.state, "failed");
  assert.equal(failed.reason, "the checkpoint checks could not be loaded");
  assert.equal(failed.tree_size, undefined, "no checkpoint shown unchecked");
  // The same check with its proofs readable reaches the (absent) audit service.
  const unreachable = await checkOnce(false);
  assert.equal(unreachable.state, "unreachable");
});
