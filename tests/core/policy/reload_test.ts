import assert from "node:assert/strict";
import { DEFAULT_POLICY_DIR } from "../../../cmd/policy.ts";
import { silentLogger } from "../../../core/log/mod.ts";
import { loadBundle } from "../../../core/policy/bundle.ts";
import { PolicyEngine } from "../../../core/policy/engine.ts";
import { PolicyReloader } from "../../../core/policy/reload.ts";
import { policyHealth } from "../../../core/policy/health.ts";
import { tempDir } from "../../helpers.ts";

const intent = (risk: number) => ({
  subject: { enterprise: "A", id: "a" },
  resource: { enterprise: "B", id: "r", scope: "read" },
  context: { session_risk: risk },
});

/** Moves the bundle folder away for one poll (reported unreadable), then back (unchanged). */
async function goneForOnePoll(reloader: PolicyReloader, path: string): Promise<void> {
  await Deno.rename(path, `${path}.away`);
  try {
    assert.equal(await reloader.check(), "failed");
  } finally {
    await Deno.rename(`${path}.away`, path);
  }
  assert.equal(reloader.status().last_error?.ref, "unreadable");
  assert.equal(await reloader.check(), "unchanged");
}

/** A temp folder holding the built-in bundle, its engine and a reloader that found it unchanged. */
async function seedBundle() {
  const dir = await tempDir("iatp-policy-");
  for (const f of ["seed.cedar", "schema.cedarschema"]) {
    await Deno.copyFile(`${DEFAULT_POLICY_DIR}/${f}`, `${dir.path}/${f}`);
  }
  const engine = new PolicyEngine(await loadBundle(dir.path));
  const reloader = new PolicyReloader(dir.path, engine, silentLogger);
  assert.equal(await reloader.check(), "unchanged");
  return { dir, engine, reloader };
}

Deno.test("hot reload swaps in a good change and keeps the last good set on a bad one", async () => {
  const { dir, engine, reloader } = await seedBundle();
  try {
    assert.equal(engine.evaluate(intent(60)).decision, "deny");

    const seed = await Deno.readTextFile(`${dir.path}/seed.cedar`);
    await Deno.writeTextFile(
      `${dir.path}/seed.cedar`,
      seed.replace("session_risk < 50", "session_risk < 70"),
    );
    assert.equal(await reloader.check(), "reloaded");
    const allowed = engine.evaluate(intent(60));
    assert.equal(allowed.decision, "allow");
    assert.equal(allowed.risk_after, 55);
    const goodRef = engine.bundle.ref;

    // Fails schema validation: an optional attribute read without `has`.
    await Deno.writeTextFile(
      `${dir.path}/extra.cedar`,
      `permit (principal, action == Action::"read", resource) when { principal.enterprise == "Z" };`,
    );
    assert.equal(await reloader.check(), "failed");
    const st = reloader.status();
    assert.match(st.last_error!.message, /extra\.cedar/);
    assert.equal(st.policy_ref, goodRef);
    assert.equal(engine.bundle.ref, goodRef);
    assert.equal(engine.evaluate(intent(60)).decision, "allow");
    assert.equal(await reloader.check(), "unchanged"); // the same bad files are not re-parsed

    await Deno.writeTextFile(`${dir.path}/extra.cedar`, "permit (principal, action, resource"); // syntax
    assert.equal(await reloader.check(), "failed");
    await Deno.remove(`${dir.path}/extra.cedar`);
    assert.equal(await reloader.check(), "reloaded");
    assert.equal(reloader.status().last_error, null);
    assert.equal(reloader.status().reloads, 2);

    // The same text under another name is a change; a folder gone for a poll and back is not.
    await Deno.rename(`${dir.path}/seed.cedar`, `${dir.path}/main.cedar`);
    assert.equal(await reloader.check(), "reloaded");
    const renamedRef = engine.bundle.ref;
    assert.notEqual(renamedRef, goodRef);
    await goneForOnePoll(reloader, dir.path);
    assert.equal(reloader.status().last_error, null, "the folder is readable again");
    assert.equal(engine.bundle.ref, renamedRef);
    assert.equal(reloader.status().reloads, 3);

    // A rejected change is reported again once a folder gone for a poll is back.
    await Deno.writeTextFile(`${dir.path}/extra.cedar`, "permit (principal, action, resource");
    assert.equal(await reloader.check(), "failed");
    const rejected = reloader.status().last_error;
    assert.match(rejected!.message, /extra\.cedar/);
    await goneForOnePoll(reloader, dir.path);
    assert.deepEqual(reloader.status().last_error, rejected);
    assert.equal(engine.bundle.ref, renamedRef);
  } finally {
    await dir.remove();
  }
});

Deno.test("a file refused in a readable folder is a rejected change on /health, not an unreadable folder", async () => {
  const { dir, engine, reloader } = await seedBundle();
  try {
    await Deno.writeFile(`${dir.path}/odd.cedar`, new Uint8Array([0x2f, 0x2f, 0xff, 0x0a]));
    assert.equal(await reloader.check(), "failed");
    const err = reloader.status().last_error!;
    assert.equal(err.ref, "refused");
    assert.equal(err.file, "odd.cedar");
    const health = policyHealth(undefined, engine.bundle.ref, err) as {
      components: { bundle: { reason: string } };
    };
    assert.match(health.components.bundle.reason, /^odd\.cedar:1: the change on disk was rejected/);
    // The file gone again: the bundle on disk is the one in force.
    await Deno.remove(`${dir.path}/odd.cedar`);
    assert.equal(await reloader.check(), "unchanged");
    assert.equal(reloader.status().last_error, null);
  } finally {
    await dir.remove();
  }
});
