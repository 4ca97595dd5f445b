/**
 * webhook: POSTs `data` as JSON to the configured URL. Network errors, timeouts, 429 and 5xx are
 * retried with exponential backoff; any other status fails at once (retrying would not help).
 * @module
 */
import type { PluginContext } from "../sdk.ts";

interface Config {
  url: string;
  token: string;
  headers: Record<string, unknown>;
  max_retries: number;
  retry_delay_ms: number;
  request_timeout_ms: number;
}

const retryable = (status: number) => status === 429 || status >= 500;

function headersFor(c: Config): Headers {
  const h = new Headers({ "content-type": "application/json" });
  for (const [k, v] of Object.entries(c.headers)) if (typeof v === "string") h.set(k, v);
  if (c.token) h.set("authorization", `Bearer ${c.token}`);
  return h;
}

/** Delivers one payload; returns the final status and how many attempts it took. */
export async function send(
  ctx: PluginContext<Config>,
  data: unknown,
): Promise<Record<string, unknown>> {
  const c = ctx.config;
  const body = JSON.stringify(data ?? null);
  let last = "";
  for (let attempt = 1; attempt <= c.max_retries + 1; attempt++) {
    if (attempt > 1) {
      await new Promise((r) => setTimeout(r, c.retry_delay_ms * 2 ** (attempt - 2)));
    }
    try {
      const res = await fetch(c.url, {
        method: "POST",
        headers: headersFor(c),
        body,
        signal: AbortSignal.timeout(c.request_timeout_ms),
      });
      await res.body?.cancel();
      if (res.ok) return { status: res.status, attempts: attempt };
      last = `status ${res.status}`;
      if (!retryable(res.status)) break;
    } catch (err) {
      last = (err as Error).message;
      // A permission error will not heal with a retry.
      if ((err as Error).name === "NotCapable") throw err;
    }
    ctx.log.warn("webhook attempt failed", { attempt, error: last });
  }
  throw new Error(`webhook to ${c.url} failed: ${last}`);
}
