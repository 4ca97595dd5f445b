/**
 * http-check: probes each configured URL once per detect(). A network error, a timeout or an
 * unexpected status is `http.down` (severity high); a good answer at or above `slow_ms` is
 * `http.slow` (severity medium). Redirects are not followed: the grant covers only the
 * configured host:port pairs, and a redirect elsewhere would be denied anyway.
 * @module
 */
import type { PluginContext, TriggerEvent } from "../sdk.ts";

interface Config {
  urls: string[];
  timeout_ms: number;
  slow_ms: number;
  expected_status: number[];
  interval: number;
}

interface Probe {
  url: string;
  status?: number;
  response_ms: number;
  error?: string;
}

async function probe(url: string, timeoutMs: number): Promise<Probe> {
  const t0 = performance.now();
  try {
    const res = await fetch(url, { redirect: "manual", signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    return { url, status: res.status, response_ms: Math.round(performance.now() - t0) };
  } catch (err) {
    const e = err as Error;
    const cause = e.cause instanceof Error ? `: ${e.cause.message}` : "";
    const error = e.name === "TimeoutError" ? `timed out after ${timeoutMs} ms` : e.message + cause;
    return { url, response_ms: Math.round(performance.now() - t0), error: error.slice(0, 300) };
  }
}

function event(ctx: PluginContext<Config>, type: string, p: Probe): TriggerEvent {
  return {
    id: crypto.randomUUID(),
    type,
    source: ctx.plugin.id,
    timestamp: new Date().toISOString(),
    severity: type === "http.down" ? "high" : "medium",
    data: { ...p, slow_ms: ctx.config.slow_ms },
    tags: ["http"],
  };
}

/** Probes every URL concurrently. */
export async function detect(ctx: PluginContext<Config>): Promise<TriggerEvent[]> {
  const { urls, timeout_ms, slow_ms, expected_status } = ctx.config;
  const probes = await Promise.all(urls.map((u) => probe(u, timeout_ms)));
  const events: TriggerEvent[] = [];
  for (const p of probes) {
    const up = p.status !== undefined &&
      (expected_status.length > 0
        ? expected_status.includes(p.status)
        : p.status >= 200 && p.status < 400);
    ctx.log.debug("probed", { url: p.url, status: p.status, ms: p.response_ms });
    if (!up) events.push(event(ctx, "http.down", p));
    else if (p.response_ms >= slow_ms) events.push(event(ctx, "http.slow", p));
  }
  return events;
}
