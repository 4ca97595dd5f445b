/**
 * Policy hot-reload benchmark: the cost of one idle check (nothing changed) of a bundle of
 * `--files` files (256 by default, the most a bundle holds) of `--size` bytes each (1 MiB, the
 * most a file holds): CPU time (user + system) and bytes read (`rchar` of /proc/self/io) per
 * check, averaged over `--checks` checks after the first (which reads the bundle whole). The
 * reloader is that of `--root` (this checkout unless named, so two checkouts compare). The files
 * are left to settle (2.5 s) before the first check. The bundle is refused at its first check
 * (`max_policies` 1: each file holds a policy and a comment to its size) so Cedar reads none of it;
 * an idle check then compares the files with that read, as with a bundle in force. Prints one JSON
 * line. Linux only (/proc). Run: `deno run -A scripts/bench/policy_reload.ts [--files N]
 * [--size BYTES] [--checks N] [--root DIR]`.
 */
import { parseArgs } from "node:util";
import process from "node:process";

const ROOT = decodeURIComponent(new URL("../../", import.meta.url).pathname);
const { values } = parseArgs({
  options: {
    files: { type: "string", default: "256" },
    size: { type: "string", default: String(1024 * 1024) },
    checks: { type: "string", default: "20" },
    root: { type: "string", default: ROOT },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log(
    `Usage: deno run -A scripts/bench/policy_reload.ts [--files N] [--size BYTES] [--checks N]
  [--root DIR]
  --files N       bundle files (default 256, the most a bundle holds)
  --size BYTES    bytes of each file (default 1048576, the most a file holds)
  --checks N      idle checks measured after the first (default 20)
  --root DIR      the checkout whose reloader is measured (default this one)
Prints one JSON line. Linux only (/proc).`,
  );
  Deno.exit(0);
}
const root = values.root.endsWith("/") ? values.root : `${values.root}/`;
const FILES = Number(values.files);
const SIZE = Number(values.size);
const CHECKS = Number(values.checks);

const { PolicyReloader } = await import(`${root}core/policy/reload.ts`);
const { loadBundle } = await import(`${root}core/policy/bundle.ts`);
const { PolicyEngine } = await import(`${root}core/policy/engine.ts`);
const { silentLogger } = await import(`${root}core/log/mod.ts`);

/** Bytes this process has read so far (any file, socket or pipe). */
async function rchar(): Promise<number> {
  const io = await Deno.readTextFile("/proc/self/io");
  return Number(/^rchar: (\d+)$/m.exec(io)![1]);
}

const dir = await Deno.makeTempDir({ prefix: "iatp-bench-reload-" });
try {
  const policy = `permit (principal, action, resource);\n`;
  for (let i = 0; i < FILES; i++) {
    const pad = "// " + "x".repeat(Math.max(0, SIZE - policy.length - 4)) + "\n";
    await Deno.writeTextFile(`${dir}/p${String(i).padStart(3, "0")}.cedar`, policy + pad);
  }
  const engine = new PolicyEngine(await loadBundle(`${root}core/policy/default/`));
  const reloader = new PolicyReloader(dir, engine, silentLogger, { maxPolicies: 1 });
  await new Promise((r) => setTimeout(r, 2500));
  const first = await reloader.check();
  const cpu0 = process.cpuUsage();
  const read0 = await rchar();
  const t0 = performance.now();
  const outcomes = new Set<string>();
  for (let i = 0; i < CHECKS; i++) outcomes.add(await reloader.check());
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const read = (await rchar()) - read0;
  console.log(JSON.stringify({
    root,
    files: FILES,
    file_bytes: SIZE,
    checks: CHECKS,
    first_check: first,
    idle_outcomes: [...outcomes],
    cpu_ms_per_check: Number(((cpu.user + cpu.system) / 1000 / CHECKS).toFixed(2)),
    user_ms_per_check: Number((cpu.user / 1000 / CHECKS).toFixed(2)),
    system_ms_per_check: Number((cpu.system / 1000 / CHECKS).toFixed(2)),
    bytes_read_per_check: Math.round(read / CHECKS),
    wall_ms_per_check: Number((ms / CHECKS).toFixed(2)),
  }));
} finally {
  await Deno.remove(dir, { recursive: true });
}
