/**
 * Runs one instruction and builds its result body: `execute` through the named action plugin in
 * the sandbox under the smallest of the instruction's, the agent's and the sandbox's timeouts
 * (retrying up to `max_retries` on transient failures), and `plugin_install` / `plugin_update`
 * through the installer. The plugin's output travels with the result even on failure.
 * @module
 */
import type { PluginResult } from "../plugin/mod.ts";
import { PluginError } from "../plugin/mod.ts";
import { backoffDelay, sleep } from "./backoff.ts";
import type { ExecutionLog } from "./exec_log.ts";
import { InstallError, installPlugin, installSource } from "./install.ts";
import type { PluginCatalog } from "./plugins.ts";
import { type PluginTrustPolicy, UntrustedPluginError } from "./plugin_trust.ts";
import type { Instruction, ResultBody } from "./wire.ts";

/** Failure types worth another attempt when `max_retries` allows. */
export const RETRYABLE_ERRORS: ReadonlySet<string> = new Set([
  "timeout",
  "crashed",
  "oom",
  "error",
]);
/** Most attempts made for one instruction, whatever `max_retries` says. */
export const MAX_ATTEMPTS = 5;

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
export function effectiveTimeout(
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
    error_details: { error_type: type, ...details },
    execution_log: log.lines(),
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
  const res = await runner.execute(inst.input_data, { timeoutMs });
  // A host that timed out, crashed or ran out of memory is not trusted for the next call.
  if (!res.ok && ["timeout", "crashed", "oom"].includes(res.error.type)) {
    await ctx.catalog.discard(runner);
  }
  return res;
}

async function execute(
  inst: Instruction,
  ctx: ExecutorContext,
  log: ExecutionLog,
): Promise<ResultBody> {
  const timeoutMs = effectiveTimeout(inst, ctx);
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
    return {
      status: "completed",
      result: { output: res.value, ...common },
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
  const started = performance.now();
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
  const duration_ms = Math.round(performance.now() - started);
  return {
    status: "completed",
    result: {
      output: {
        plugin_id: plugin.manifest.id,
        version: plugin.manifest.version,
        kind: plugin.manifest.kind,
      },
      plugin_id: inst.plugin_id,
      duration_ms,
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
    const message = err instanceof Error ? err.message : String(err);
    return failed(log, type, message, {
      plugin_id: inst.plugin_id,
      duration_ms: took(),
      output: null,
      ...(err instanceof UntrustedPluginError ? { reason: err.reason } : {}),
    });
  }
}
