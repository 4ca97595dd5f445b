/**
 * Every benchmark script answers `--help` with its usage and exit 0, before it starts anything
 * (a server, a benchmark run), and so do the modules the benchmarks import, run on their own.
 */
import assert from "node:assert/strict";

const BENCH = new URL("../../scripts/bench/", import.meta.url);
/** Liveness bound of one `--help`: a script that started its work instead is stopped by it. */
const HELP_BOUND_MS = 60_000;

async function help(file: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(file, BENCH).pathname, "--help"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), HELP_BOUND_MS);
  try {
    const out = await child.output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("every scripts/bench/*.ts answers --help with its usage, exit 0", async () => {
  const files = [...Deno.readDirSync(BENCH)].filter((e) => e.isFile && e.name.endsWith(".ts"))
    .map((e) => e.name).sort();
  assert.ok(files.includes("startup.ts"), files.join(" "));
  const bad: string[] = [];
  for (const file of files) {
    const r = await help(file);
    if (r.code !== 0 || !/^Usage: /.test(r.stdout)) {
      bad.push(`${file}: exit ${r.code}: ${(r.stdout + r.stderr).trim().split("\n")[0]}`);
    }
  }
  assert.deepEqual(bad, []);
});
