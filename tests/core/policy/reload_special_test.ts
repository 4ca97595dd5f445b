/**
 * Bundle files that are not regular files: a named pipe, a device or a socket under a bundle name
 * is refused naming it (at start and on reload: the last good set goes on deciding, `/health` says
 * why), and a file swapped for a named pipe between the reloader's look at it and its read never
 * holds the reloader (opening a pipe waits for a writer that never comes).
 */
import assert from "node:assert/strict";
import { constants as fsConstants } from "node:fs";
import { open as openFile } from "node:fs/promises";
import { DEFAULT_POLICY_DIR } from "../../../cmd/policy.ts";
import { silentLogger } from "../../../core/log/mod.ts";
import { loadBundle, PolicyBundleError } from "../../../core/policy/bundle.ts";
import { PolicyEngine } from "../../../core/policy/engine.ts";
import { policyHealth } from "../../../core/policy/health.ts";
import { PolicyReloader } from "../../../core/policy/reload.ts";
import { tempDir } from "../../helpers.ts";

async function mkfifo(path: string): Promise<void> {
  const out = await new Deno.Command("mkfifo", { args: [path] }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
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

Deno.test("a named pipe, a device or a socket under a bundle name is refused naming it; the last good set decides", async () => {
  const { dir, engine, reloader } = await seedBundle();
  const goodRef = engine.bundle.ref;
  const socketPath = `${dir.path}/sock.cedar`;
  try {
    const cases: Array<{ name: string; make(path: string): Promise<unknown>; kind: RegExp }> = [
      { name: "pipe.cedar", make: mkfifo, kind: /a named pipe \(FIFO\), not a regular file/ },
      {
        name: "zero.cedar",
        make: (p) => Deno.symlink("/dev/zero", p),
        kind: /a device, not a regular file/,
      },
      {
        name: "entities.json",
        make: (p) => Deno.symlink("/dev/null", p),
        kind: /a device, not a regular file/,
      },
      {
        name: "sock.cedar",
        make: (p) => Promise.resolve(Deno.listen({ transport: "unix", path: p })),
        kind: /a socket, not a regular file/,
      },
      { name: "dir.cedar", make: (p) => Deno.mkdir(p), kind: /a folder, not a regular file/ },
    ];
    for (const c of cases) {
      const path = `${dir.path}/${c.name}`;
      const made = await c.make(path);
      try {
        assert.equal(await reloader.check(), "failed", c.name);
        const err = reloader.status().last_error!;
        assert.equal(err.ref, "refused", c.name);
        assert.equal(err.file, c.name);
        assert.match(err.message, new RegExp(`^${c.name.replace(".", "\\.")}: `));
        assert.match(err.message, c.kind);
        assert.equal(engine.bundle.ref, goodRef);
        assert.equal(reloader.status().policy_ref, goodRef);
        const health = policyHealth(undefined, engine.bundle.ref, err) as {
          status: string;
          components: { bundle: { reason: string; file: string } };
        };
        assert.equal(health.status, "degraded");
        assert.equal(health.components.bundle.file, c.name);
        assert.match(
          health.components.bundle.reason,
          new RegExp(`^${c.name.replace(".", "\\.")}: the change on disk was rejected`),
        );
        // Refused at start too, naming the file.
        const atStart = await loadBundle(dir.path).then(() => undefined, (e) => e);
        assert.ok(atStart instanceof PolicyBundleError, `${c.name}: ${atStart}`);
        assert.equal(atStart.file, c.name);
      } finally {
        if (made && typeof made === "object" && "close" in made) (made as Deno.Listener).close();
        await Deno.remove(path).catch(() => {});
      }
      assert.equal(await reloader.check(), "unchanged", `${c.name} gone`);
      assert.equal(reloader.status().last_error, null);
    }
  } finally {
    await Deno.remove(socketPath).catch(() => {});
    await dir.remove();
  }
});

/** Whether a thread of this process waits in the open of a named pipe for a writer (Linux). */
async function waitingOnPipe(): Promise<boolean> {
  for await (const t of Deno.readDir("/proc/self/task")) {
    const wchan = await Deno.readTextFile(`/proc/self/task/${t.name}/wchan`).catch(() => "");
    if (wchan === "wait_for_partner") return true;
  }
  return false;
}

Deno.test("a bundle file swapped for a named pipe between its stat and its read never holds the reloader", async () => {
  const { dir, engine, reloader } = await seedBundle();
  const pipe = `${dir.path}/.pipe`;
  const text = `${dir.path}/.text`;
  const stop = `${dir.path}/.stop`;
  const target = `${dir.path}/extra.cedar`;
  await mkfifo(pipe);
  await Deno.writeTextFile(text, "// no policy here\n");
  await Deno.link(text, target);
  assert.equal(await reloader.check(), "reloaded");
  // Another process puts the pipe and the text file in turn at extra.cedar, each by an atomic
  // rename (hidden names are no part of the bundle), until told to stop.
  const swapper = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `const [pipe, text, target, stop] = Deno.args;
       const tmp = stop + ".swap";
       // A rename onto a link of the same file does nothing: the first puts the pipe.
       for (let i = 1; ; i++) {
         if (i % 256 === 1) { try { Deno.statSync(stop); break; } catch { /* go on */ } }
         Deno.linkSync(i % 2 ? pipe : text, tmp);
         Deno.renameSync(tmp, target);
       }
       Deno.linkSync(text, tmp);
       Deno.renameSync(tmp, target);`,
      pipe,
      text,
      target,
      stop,
    ],
    stdout: "null",
  }).spawn();
  let blocked = false;
  let refusals = 0;
  let checks = 0;
  let done = false;
  const loop = (async () => {
    for (; !done && checks < 300; checks++) {
      if (await reloader.check() !== "failed") continue;
      const err = reloader.status().last_error!;
      assert.equal(err.file, "extra.cedar", err.message);
      assert.match(err.message, /^extra\.cedar: a named pipe \(FIFO\), not a regular file/);
      refusals++;
    }
    done = true;
  })();
  // Watches for a check waiting on the pipe: a thread of this process asleep in the pipe's open. Found, it is recorded and released (a writer opening the pipe ends the wait).
  const watch = (async () => {
    while (!done) {
      await new Promise((r) => setTimeout(r, 50));
      if (!done && await waitingOnPipe()) {
        blocked = true;
        done = true;
        const w = await openFile(pipe, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
        await w.close();
      }
    }
  })();
  try {
    await Promise.all([loop, watch]);
  } finally {
    done = true;
    await Deno.writeTextFile(stop, "");
    await swapper.status;
  }
  try {
    assert.equal(blocked, false, `a check waited on the named pipe (after ${checks} checks)`);
    assert.ok(refusals > 0, `the pipe was never seen in ${checks} checks`);
    assert.equal(await reloader.check(), "unchanged");
    assert.equal(reloader.status().last_error, null);
    assert.equal(engine.bundle.ref, reloader.status().policy_ref);
  } finally {
    await dir.remove();
  }
});
