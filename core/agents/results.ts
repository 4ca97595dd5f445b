/**
 * Bookkeeping of finished work: the size bound on stored results, and per-plugin health of the
 * action agent's recent executions (bounded by plugin count).
 * @module
 */
import type { ComponentHealth } from "./health.ts";
import type { ResultBody } from "./wire.ts";

/** Plugins tracked for /health; the least recently used is forgotten beyond this. */
const MAX_TRACKED_PLUGINS = 100;

/**
 * Keeps a result body under `maxBytes` (it is stored for re-reporting): an oversized plugin
 * output is replaced by a preview; the execution log is already bounded by line count.
 */
export function boundResult(body: ResultBody, maxBytes: number): Record<string, unknown> {
  const size = (v: unknown) => new TextEncoder().encode(JSON.stringify(v) ?? "").length;
  if (size(body) <= maxBytes) return { ...body };
  const cut = (v: unknown) => {
    const text = JSON.stringify(v) ?? "";
    return {
      truncated: true,
      bytes: text.length,
      preview: text.slice(0, Math.floor(maxBytes / 4)),
    };
  };
  const out: ResultBody = { ...body };
  if (out.result) {
    const er = out.result.execution_result as Record<string, unknown> | undefined;
    out.result = {
      ...out.result,
      output: cut(out.result.output),
      truncated: true,
      ...(er ? { execution_result: { ...er, output_data: cut(er.output_data) } } : {}),
    };
  }
  if (out.error_details) {
    out.error_details = {
      ...out.error_details,
      output: cut(out.error_details.output),
      truncated: true,
    };
  }
  if (size(out) > maxBytes) out.execution_log = out.execution_log.slice(-20);
  return { ...out };
}

interface PluginStat {
  runs: number;
  failures: number;
  last_status: string;
  last_error?: string;
  last_at: string;
}

/** Per-plugin execution health for the action agent's /health. */
export class PluginHealth {
  #stats = new Map<string, PluginStat>();

  /** Records one execution's outcome. */
  record(pluginId: string, body: ResultBody): void {
    const prev = this.#stats.get(pluginId) ??
      { runs: 0, failures: 0, last_status: "", last_at: "" };
    this.#stats.delete(pluginId);
    this.#stats.set(pluginId, {
      runs: prev.runs + 1,
      failures: prev.failures + (body.status === "failed" ? 1 : 0),
      last_status: body.status,
      last_error: body.status === "failed"
        ? String(body.error_details?.error_type ?? "error")
        : undefined,
      last_at: new Date().toISOString(),
    });
    if (this.#stats.size > MAX_TRACKED_PLUGINS) {
      this.#stats.delete(this.#stats.keys().next().value!);
    }
  }

  /** The component entry: plugin failures are reported, not treated as agent failure. */
  health(): ComponentHealth {
    return { ok: true, configured: true, plugins: Object.fromEntries(this.#stats) };
  }
}
