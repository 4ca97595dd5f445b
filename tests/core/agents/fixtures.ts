/**
 * Test fixtures for the agent tests: real plugin folders written to a temp dir (an action that
 * echoes, sleeps, fails or spins; a trigger that reports a fixed event or crashes) and a config
 * writer.
 * @module
 */
import { join } from "node:path";
import { stringify } from "yaml";

/** An action plugin: `{sleep_ms?, fail?, spin?, echo?}` in, `{echo}` out. */
export const ECHO_ACTION_MOD = `
export async function execute(ctx, req) {
  ctx.log.info("echo-action got " + JSON.stringify(req));
  if (req.sleep_ms) await new Promise((r) => setTimeout(r, req.sleep_ms));
  if (req.spin) { for (;;) { /* never yields: only a kill stops it */ } }
  if (req.fail) throw new Error(req.fail);
  return { echo: req.echo ?? null, token: ctx.config.token ?? null };
}
`;

/** A trigger plugin: one event of `config.type` from `config.source`, or a crash. */
export const FIXED_TRIGGER_MOD = `
let n = 0;
export function detect(ctx) {
  n++;
  if (ctx.config.crash) throw new Error(ctx.config.crash_message || "fixture trigger crashed on purpose");
  return [{
    id: crypto.randomUUID(), type: ctx.config.type, source: ctx.config.source,
    timestamp: new Date().toISOString(), severity: "high", data: { run: n }, tags: ["fixture"],
  }];
}
`;

/** Writes a plugin folder `dir/<id>` with a manifest and mod.ts. */
export async function writePlugin(
  dir: string,
  id: string,
  kind: "trigger" | "action",
  mod: string,
  config: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
): Promise<string> {
  const folder = join(dir, id);
  await Deno.mkdir(folder, { recursive: true });
  await Deno.writeTextFile(
    join(folder, "plugin.yaml"),
    stringify({ id, name: id, version: "1.0.0", kind, entry: "mod.ts", config, ...extra }),
  );
  await Deno.writeTextFile(join(folder, "mod.ts"), mod);
  return folder;
}

/** Writes the standard fixture plugins into `dir`. */
export async function writeFixturePlugins(dir: string): Promise<void> {
  await writePlugin(dir, "echo-action", "action", ECHO_ACTION_MOD, {
    token: { type: "string", default: "", secret: true },
  }, { limits: { timeout_ms: 600_000, memory_mb: 64, max_output_bytes: 65536 } });
  await writePlugin(dir, "fixed-trigger", "trigger", FIXED_TRIGGER_MOD, {
    type: { type: "string", default: "test.alert" },
    source: { type: "string", default: "fixture" },
    crash: { type: "boolean", default: false },
    crash_message: { type: "string", default: "" },
    interval: { type: "integer", default: 1 },
  });
}

/** Writes a YAML config file and returns its path. */
export async function writeConfig(dir: string, name: string, config: unknown): Promise<string> {
  const path = join(dir, name);
  await Deno.writeTextFile(path, stringify(config));
  return path;
}

/** Reads an agent's /health body. */
export async function health(url: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${url}/health`);
  return await res.json();
}

/** Sums a Prometheus counter's samples whose labels include every `labels` pair. */
export async function metric(
  url: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const ok = Object.entries(labels).every(([k, v]) => (m[2] ?? "").includes(`${k}="${v}"`));
    if (ok) sum += Number(m[3]);
  }
  return sum;
}

/** The audit lines of an agent, parsed. */
export async function auditLines(base: string): Promise<Array<Record<string, unknown>>> {
  const text = await Deno.readTextFile(join(base, "logs/audit/audit.jsonl"));
  return text.trim().split("\n").map((l) => JSON.parse(l));
}

/**
 * Leaves in `stateDir` the state of an earlier run whose instruction `left-running` was running
 * (its next start writes the interrupted result); returns the database file.
 */
export async function leaveRunningInstruction(stateDir: string): Promise<string> {
  const { AgentState } = await import("../../../core/agents/state.ts");
  await Deno.mkdir(stateDir, { recursive: true, mode: 0o700 });
  const earlier = new AgentState(stateDir, { history: 100 });
  earlier.lock();
  await earlier.open();
  earlier.claim("left-running", "orchestrator", { id: "left-running", plugin_id: "p" });
  earlier.markRunning("left-running");
  earlier.close();
  return earlier.file;
}
