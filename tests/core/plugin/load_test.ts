/**
 * Loading a plugin folder reads its manifest and modules within IATP_FILE_READ_TIMEOUT: a
 * plugin.yaml or a module that is a pipe with no writer is refused naming the file, instead of a
 * load (and the agent's start) that waits on it for good.
 */
import assert from "node:assert/strict";
import { deadline } from "../../../core/async/mod.ts";
import { loadPlugin, PluginError } from "../../../core/plugin/mod.ts";
import { makePlugin } from "../../plugin/plugin_helpers.ts";

/** Replaces `path` with a named pipe (FIFO). */
async function toPipe(path: string): Promise<void> {
  await Deno.remove(path);
  assert.ok((await new Deno.Command("mkfifo", { args: [path] }).output()).success, "mkfifo");
}

/** Runs `fn` with IATP_FILE_READ_TIMEOUT set to `value`. */
async function withReadTimeout<T>(value: string, fn: () => Promise<T>): Promise<T> {
  const before = Deno.env.get("IATP_FILE_READ_TIMEOUT");
  Deno.env.set("IATP_FILE_READ_TIMEOUT", value);
  try {
    return await fn();
  } finally {
    if (before === undefined) Deno.env.delete("IATP_FILE_READ_TIMEOUT");
    else Deno.env.set("IATP_FILE_READ_TIMEOUT", before);
  }
}

/** A late writer: releases an open of `path` a wait gave up on. */
async function release(path: string): Promise<void> {
  (await Deno.open(path, { write: true })).close();
  await new Promise((r) => setTimeout(r, 50));
}

for (const file of ["plugin.yaml", "mod.ts"]) {
  Deno.test(`loadPlugin: a ${file} that is a pipe with no writer is refused naming it`, async () => {
    const p = await makePlugin({ "mod.ts": "export function execute() { return 1; }\n" });
    const pipe = `${p.dir}/${file}`;
    await toPipe(pipe);
    try {
      // Bounded: a load that waits on the pipe for good fails the test with a timeout instead.
      const err = await withReadTimeout("200ms", () => deadline(loadPlugin(p.dir), 20_000)).then(
        () => assert.fail("loaded a plugin whose file is a pipe with no writer"),
        (e) => e,
      );
      assert.ok(err instanceof PluginError, String(err));
      assert.match(err.message, new RegExp(`${file}: no data arrived within 200ms`));
    } finally {
      await release(pipe);
      await p.remove();
    }
  });
}
