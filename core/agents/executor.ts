/**
 * Runs one instruction and builds its result body: `execute` through the named action plugin in
 * the sandbox under the smallest of the instruction's, the agent's and the sandbox's timeouts
 * (retrying up to `max_retries` on transient failures), and `plugin_install` / `plugin_update`
 * through the installer. The plugin's output travels with the result even on failure.
 * @module
 */
import { join } from "node:path";
import type { PluginResult } from "../plugin/mod.ts";
import { PluginError } from "../plugin/mod.ts";
import { backoffDelay, sleep } from "../async/mod.ts";
import type { ExecutionLog } from "./exec_log.ts";
import { InstallError, installPlugin, installSource } from "./install.ts";
import type { PluginCatalog } from "./plugins.ts";
import { type PluginTrustPolicy, UntrustedPluginError } from "./plugin_trust.ts";
import { type Instruction, type ResultBody, rfc3339 } from "./wire.ts";
import { errorMessage } from "../errors/mod.ts";
import { noteWork } from "../http/mod.ts";

/** Failure types worth another attempt when `max_retries` allows. */
const RETRYABLE_ERRORS: ReadonlySet<string> = new Set([
  "timeout",
  "crashed",
  "oom",
  "error",
]);
/** Most attempts made for one instruction, whatever `max_retries` says. */
const MAX_ATTEMPTS = 5;

/** What the executor needs from the agent. */
export interface ExecutorContext {
  catalog: PluginCatalog;
  installedDir: string;
  workdir: string;
  installMaxBytes: number;
  taskTimeoutMs: number;
  sandboxMaxExecMs: number;
  /** Which plugins plugin_install / plugin_update accept. */
  pluginTrust: PluginTrustPolicy;
  /** Aborted when the agent stops: no further retries start. */
  signal: AbortSignal;
}

/** The effective timeout of an instruction, in ms. */
function effectiveTimeout(
  inst: Instruction,
  ctx: Pick<ExecutorContext, "taskTimeoutMs" | "sandboxMaxExecMs">,
): number {
  const asked = inst.timeout_seconds > 0 ? inst.timeout_seconds * 1000 : ctx.taskTimeoutMs;
  return Math.max(1, Math.min(asked, ctx.taskTimeoutMs, ctx.sandboxMaxExecMs));
}

function failed(
  log: ExecutionLog,
  type: string,
  message: string,
  details: Record<string, unknown> = {},
): ResultBody {
  log.add(`failed (${type}): ${message}`);
  return {
    status: "failed",
    error_message: message,
    error_details: { error_type: type, timestamp: rfc3339(), ...details },
    execution_log: log.lines(),
  };
}

/**
 * A completed result as the Stavily agents send it (`instruction_id, success, duration` in
 * seconds, `start_time, end_time, logs, execution_result{plugin_id, success, output_data, logs,
 * duration, exit_code}`), with iatp's own fields (`output, plugin_id, duration_ms, truncated`)
 * alongside.
 */
function completedResult(
  inst: Pick<Instruction, "id" | "plugin_id">,
  value: unknown,
  timing: { started: Date; ended: Date; durationMs: number },
  extra: { truncated?: boolean; logs?: string[] } = {},
): Record<string, unknown> {
  const duration = timing.durationMs / 1000;
  const logs = extra.logs ?? [];
  const outputData = value !== null && typeof value === "object" && !Array.isArray(value)
    ? value
    : { raw_output: typeof value === "string" ? value : JSON.stringify(value ?? null) };
  return {
    instruction_id: inst.id,
    success: true,
    duration,
    start_time: timing.started.toISOString(),
    end_time: timing.ended.toISOString(),
    logs,
    execution_result: {
      plugin_id: inst.plugin_id,
      success: true,
      output_data: outputData,
      logs,
      duration,
      exit_code: 0,
    },
    output: value,
    plugin_id: inst.plugin_id,
    duration_ms: timing.durationMs,
    ...(extra.truncated !== undefined ? { truncated: extra.truncated } : {}),
  };
}

async function runOnce(
  inst: Instruction,
  ctx: ExecutorContext,
  asked: number,
  log: ExecutionLog,
): Promise<PluginResult<unknown>> {
  const runner = await ctx.catalog.runner(inst.plugin_id, "action", inst.plugin_configuration);
  // The manifest's timeout is the plugin's declared limit: an instruction cannot raise it.
  const timeoutMs = Math.min(asked, runner.plugin.manifest.limits.timeout_ms);
  log.add(
    `running plugin ${inst.plugin_id} ${runner.plugin.manifest.version} (timeout ${timeoutMs} ms)`,
  );
  // A host (or external process) whose call failed is killed and replaced by its runner; the
  // runner itself stays, so the instructions waiting on it for the same plugin run on.
  return await runner.execute(inst.input_data, { timeoutMs, instructionId: inst.id });
}

async function execute(
  inst: Instruction,
  ctx: ExecutorContext,
  log: ExecutionLog,
): Promise<ResultBody> {
  const timeoutMs = effectiveTimeout(inst, ctx);
  const started = new Date();
  const attempts = Math.min(MAX_ATTEMPTS, 1 + inst.max_retries);
  let res: PluginResult<unknown> | undefined;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (attempt > 1) {
      if (ctx.signal.aborted) break;
      const wait = backoffDelay(attempt - 2, { baseMs: 500, maxMs: 10_000 });
      log.add(`retrying in ${wait} ms (attempt ${attempt} of ${attempts})`);
      await sleep(wait, ctx.signal);
    }
    res = await runOnce(inst, ctx, timeoutMs, log);
    for (const line of res.logs) log.add(`plugin: ${line}`);
    if (res.ok || !RETRYABLE_ERRORS.has(res.error.type)) break;
    log.add(`attempt ${attempt} failed (${res.error.type}): ${res.error.message}`);
  }
  if (!res) return failed(log, "interrupted", "the agent stopped before the plugin ran");
  const common = {
    plugin_id: inst.plugin_id,
    duration_ms: res.duration_ms,
    truncated: res.truncated,
  };
  if (res.ok) {
    log.add(`completed in ${res.duration_ms} ms`);
    const timing = { started, ended: new Date(), durationMs: res.duration_ms };
    return {
      status: "completed",
      result: completedResult(inst, res.value, timing, {
        truncated: res.truncated,
        logs: res.logs,
      }),
      execution_log: log.lines(),
    };
  }
  return failed(log, res.error.type, res.error.message, { ...common, output: res.output ?? null });
}

async function install(
  inst: Instruction,
  ctx: ExecutorContext,
  log: ExecutionLog,
): Promise<ResultBody> {
  const started = new Date();
  const mode = inst.instruction_type === "plugin_install" ? "install" : "update";
  const plugin = await installPlugin(
    inst.plugin_id,
    installSource(inst.plugin_configuration),
    mode,
    {
      installedDir: ctx.installedDir,
      workdir: ctx.workdir,
      maxBytes: ctx.installMaxBytes,
      timeoutMs: effectiveTimeout(inst, ctx),
      catalog: ctx.catalog,
      trust: ctx.pluginTrust,
      log: (m) => log.add(m),
    },
  );
  const ended = new Date();
  const durationMs = ended.getTime() - started.getTime();
  const output = {
    plugin_id: plugin.manifest.id,
    version: plugin.manifest.version,
    kind: plugin.manifest.kind,
  };
  const base = completedResult(inst, output, { started, ended, durationMs });
  // Stavily reports an install as install_result, not execution_result.
  const { execution_result: _, ...rest } = base;
  return {
    status: "completed",
    result: {
      ...rest,
      install_result: {
        plugin_id: plugin.manifest.id,
        success: true,
        installed_path: join(ctx.installedDir, plugin.manifest.id),
        version: plugin.manifest.version,
        logs: [],
        duration: durationMs / 1000,
      },
    },
    execution_log: log.lines(),
  };
}

/** Runs `inst` to a result body; never throws (every failure becomes a `failed` result). */
export async function runInstruction(
  inst: Instruction,
  ctx: ExecutorContext,
  log: ExecutionLog,
): Promise<ResultBody> {
  const started = performance.now();
  const took = () => Math.round(performance.now() - started);
  // An instruction is the action agent's work: a quiet spell after it gives the heap back.
  noteWork();
  try {
    switch (inst.instruction_type) {
      case "execute":
        return await execute(inst, ctx, log);
      case "plugin_install":
      case "plugin_update":
        return await install(inst, ctx, log);
      default:
        return failed(
          log,
          "invalid_request",
          `unsupported instruction_type ${JSON.stringify(inst.instruction_type)}`,
          {
            duration_ms: took(),
          },
        );
    }
  } catch (err) {
    const type = err instanceof InstallError
      ? err.type
      : err instanceof UntrustedPluginError
      ? "untrusted_plugin"
      : err instanceof PluginError
      ? err.code
      : "error";
    const message = errorMessage(err);
    return failed(log, type, message, {
      plugin_id: inst.plugin_id,
      duration_ms: took(),
      output: null,
      ...(err instanceof UntrustedPluginError ? { reason: err.reason } : {}),
    });
  }
}
