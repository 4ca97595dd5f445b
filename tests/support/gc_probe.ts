/**
 * Runs a memory probe (a script that measures what the collector frees) in a process of its own
 * with `--expose-gc`, and returns the JSON it prints on its last line.
 * @module
 */
import assert from "node:assert/strict";

/**
 * Runs `probe` with `args`; `net` grants loopback sockets (`--allow-net=127.0.0.1`).
 * @throws {AssertionError} when the probe fails (its stderr is the message)
 */
export async function runGcProbe<T>(
  probe: URL,
  opts: { args?: string[]; net?: boolean; v8Flags?: string[] } = {},
): Promise<T> {
  const flags = ["--expose-gc", ...(opts.v8Flags ?? [])].join(",");
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...(opts.net ? ["--allow-net=127.0.0.1"] : []),
      `--v8-flags=${flags}`,
      probe.pathname,
      ...(opts.args ?? []),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  return JSON.parse(lines[lines.length - 1]) as T;
}
