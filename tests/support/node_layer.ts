/**
 * Which modules of Deno's Node layer a process evaluates, read from V8's function-event logs:
 * run it with {@linkcode NODE_LAYER_LOG_FLAGS} in `DENO_V8_FLAGS` and a working folder of its
 * own, then read that folder with {@linkcode nodeModules}.
 * @module
 */
import assert from "node:assert/strict";

/**
 * V8 flags that log every script an isolate compiles, one file per isolate in the working folder
 * (`isolate-<address>-<pid>-functions.log`): isolates sharing one file truncate each other's lines.
 */
export const NODE_LAYER_LOG_FLAGS =
  "--log-function-events,--logfile=functions.log,--logfile-per-isolate";

/** A script of the Node layer (ext:deno_node/..., node:...) in a function-event log line. */
const NODE_SCRIPT = /^script-details,\d+,((?:ext:deno_node\/|node:)[^,]+),/gm;

/**
 * The scripts named by the function-event logs in `dir` that `pattern` (global, multiline; its
 * group 1 is the name) picks.
 */
export async function scriptsIn(dir: string, pattern: RegExp): Promise<Set<string>> {
  const found = new Set<string>();
  for await (const e of Deno.readDir(dir)) {
    if (!e.isFile || !e.name.endsWith("-functions.log")) continue;
    const text = new TextDecoder().decode(await Deno.readFile(`${dir}/${e.name}`));
    for (const m of text.matchAll(pattern)) found.add(m[1]);
  }
  return found;
}

/** The Node-layer modules (ext:deno_node/..., node:...) named by the function-event logs in `dir`. */
export function nodeModules(dir: string): Promise<Set<string>> {
  return scriptsIn(dir, NODE_SCRIPT);
}

/**
 * What a Deno program running `code` (a module's text) names of the Node layer, run in the new
 * folder `dir`: `console.log(1)` gives what any program names before it uses any of it.
 * @throws {AssertionError} when the program fails or its log names nothing
 */
export async function nodeModulesOf(dir: string, code: string): Promise<Set<string>> {
  await Deno.mkdir(dir);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    cwd: dir,
    env: { DENO_V8_FLAGS: NODE_LAYER_LOG_FLAGS },
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const found = await nodeModules(dir);
  assert.ok(found.size > 0, "the log names the Node layer's always-loaded module");
  return found;
}
