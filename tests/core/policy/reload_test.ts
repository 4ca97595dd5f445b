import assert from "node:assert/strict";
import { DEFAULT_POLICY_DIR } from "../../../cmd/policy.ts";
import { silentLogger } from "../../../core/log/mod.ts";
import { loadBundle } from "../../../core/policy/bundle.ts";
import { PolicyEngine } from "../../../core/policy/engine.ts";
import { PolicyReloader } from "../../../core/policy/reload.ts";
import { BUNDLE_SETTLE_MS } from "../../../core/policy/bundle.ts";
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

/** Waits until what was written so far is older than the settle window (BUNDLE_SETTLE_MS). */
const settle = () => new Promise((r) => setTimeout(r, BUNDLE_SETTLE_MS + 300));

/** Bytes this process has read so far (/proc/self/io). */
async function bytesRead(): Promise<number> {
  return Number(/^rchar: (\d+)$/m.exec(await Deno.readTextFile("/proc/self/io"))![1]);
}

Deno.test("an idle check of a settled bundle reads none of its files", async () => {
  const { dir, reloader } = await seedBundle();
  try {
    await settle();
    assert.equal(await reloader.check(), "unchanged"); // reads the settled files once more
    let size = 0;
    for await (const e of Deno.readDir(dir.path)) {
      size += (await Deno.stat(`${dir.path}/${e.name}`)).size;
    }
    const before = await bytesRead();
    assert.equal(await reloader.check(), "unchanged");
    assert.equal(await reloader.check(), "unchanged");
    assert.ok((await bytesRead()) - before < size, "the files were read again");
  } finally {
    await dir.remove();
  }
});

Deno.test("a rewrite of the same size with the same mtime is caught, fresh or settled", async () => {
  const { dir, engine, reloader } = await seedBundle();
  const path = `${dir.path}/seed.cedar`;
  const when = new Date("2020-01-01T00:00:00Z");
  try {
    const seed = await Deno.readTextFile(path);
    // In place (same inode), same size, mtime set back to the same instant each time.
    const rewrite = async (from: string, to: string) => {
      const text = await Deno.readTextFile(path);
      assert.equal(from.length, to.length);
      const f = await Deno.open(path, { write: true });
      try {
        await f.write(new TextEncoder().encode(text.replace(from, to)));
      } finally {
        f.close();
      }
      await Deno.utime(path, when, when);
    };
    await Deno.utime(path, when, when);
    assert.equal(await reloader.check(), "unchanged");
    await rewrite("session_risk < 50", "session_risk < 70");
    assert.equal(await reloader.check(), "reloaded");
    assert.equal(engine.evaluate(intent(60)).decision, "allow");
    // Straight after the last: the file's identity is as the last check saw it.
    await rewrite("session_risk < 70", "session_risk < 50");
    assert.equal(await reloader.check(), "reloaded");
    assert.equal(engine.evaluate(intent(60)).decision, "deny");
    // Settled, then rewritten: only its ctime tells.
    await settle();
    assert.equal(await reloader.check(), "unchanged");
    await rewrite("session_risk < 50", "session_risk < 70");
    assert.equal(await reloader.check(), "reloaded");
    assert.equal(engine.evaluate(intent(60)).decision, "allow");
    assert.equal(seed.length, (await Deno.readTextFile(path)).length);
  } finally {
    await dir.remove();
  }
});

Deno.test("a settled bundle: a change in place, a file added and one removed are caught", async () => {
  const { dir, engine, reloader } = await seedBundle();
  try {
    await settle();
    assert.equal(await reloader.check(), "unchanged");
    const seed = await Deno.readTextFile(`${dir.path}/seed.cedar`);
    await Deno.writeTextFile(`${dir.path}/seed.cedar`, seed.replace("< 50", "< 700"));
    assert.equal(await reloader.check(), "reloaded");
    assert.equal(engine.evaluate(intent(60)).decision, "allow");
    await settle();
    await Deno.writeTextFile(
      `${dir.path}/no-b.cedar`,
      `@id("no-b") forbid (principal, action, resource);`,
    );
    assert.equal(await reloader.check(), "reloaded");
    assert.equal(engine.evaluate(intent(10)).decision, "deny");
    await settle();
    assert.equal(await reloader.check(), "unchanged");
    await Deno.remove(`${dir.path}/no-b.cedar`);
    assert.equal(await reloader.check(), "reloaded");
    assert.equal(engine.evaluate(intent(10)).decision, "allow");
  } finally {
    await dir.remove();
  }
});

Deno.test("a ConfigMap's ..data swap is caught, a half-made one is not installed", async () => {
  const dir = await tempDir("iatp-policy-");
  const seed = await Deno.readTextFile(`${DEFAULT_POLICY_DIR}/seed.cedar`);
  const schema = await Deno.readTextFile(`${DEFAULT_POLICY_DIR}/schema.cedarschema`);
  /** Writes a version folder the way the kubelet does, then points `..data` at it. */
  const version = async (name: string, files: Record<string, string>) => {
    await Deno.mkdir(`${dir.path}/${name}`);
    for (const [f, text] of Object.entries(files)) {
      await Deno.writeTextFile(`${dir.path}/${name}/${f}`, text);
    }
    await Deno.symlink(name, `${dir.path}/..data_tmp`);
    await Deno.rename(`${dir.path}/..data_tmp`, `${dir.path}/..data`);
  };
  try {
    await version("..v1", { "seed.cedar": seed, "schema.cedarschema": schema });
    for (const f of ["seed.cedar", "schema.cedarschema"]) {
      await Deno.symlink(`..data/${f}`, `${dir.path}/${f}`);
    }
    const engine = new PolicyEngine(await loadBundle(dir.path));
    const reloader = new PolicyReloader(dir.path, engine, silentLogger);
    assert.equal(await reloader.check(), "unchanged");
    await settle();
    assert.equal(await reloader.check(), "unchanged");
    // The same size, the same names: only where `..data` leads differs.
    await version("..v2", {
      "seed.cedar": seed.replace("< 50", "< 70"),
      "schema.cedarschema": schema,
    });
    await Deno.remove(`${dir.path}/..v1`, { recursive: true });
    assert.equal(await reloader.check(), "reloaded");
    assert.equal(engine.evaluate(intent(60)).decision, "allow");
    const good = engine.bundle.ref;
    await settle();
    assert.equal(await reloader.check(), "unchanged");
    // A version cut short (its seed.cedar half written) is refused; the whole one is installed.
    await version("..v3", {
      "seed.cedar": seed.slice(0, seed.length / 2),
      "schema.cedarschema": schema,
    });
    assert.equal(await reloader.check(), "failed");
    assert.equal(engine.bundle.ref, good);
    await Deno.writeTextFile(`${dir.path}/..v3/seed.cedar`, seed.replace("< 50", "< 20"));
    assert.equal(await reloader.check(), "reloaded");
    assert.equal(engine.evaluate(intent(30)).decision, "deny");
  } finally {
    await dir.remove();
  }
});
