/**
 * Bounded JSON reads of other services (audit trail, checkpoints, health): a deadline on the
 * whole exchange and a cap on the bytes read, so a slow or huge answer never holds the dashboard.
 * @module
 */
import { after } from "../async/mod.ts";
import { readBody } from "../http/mod.ts";
import { errorMessage } from "../errors/mod.ts";

/** The outcome of {@linkcode fetchJson}: the status and parsed body, or why there is none. */
export type JsonAnswer =
  | { ok: true; status: number; body: unknown }
  | { ok: false; error: string; status?: number };

/**
 * GETs `url` as JSON within `timeoutMs`, reading at most `maxBytes`. Never throws: a network
 * error, a timeout, an oversized or non-JSON body is an `{ok: false}` answer. Statuses listed in
 * `okStatuses` (default 200) are parsed; any other is reported with its number.
 */
export async function fetchJson(
  url: string,
  opts: { timeoutMs: number; maxBytes: number; okStatuses?: number[] },
): Promise<JsonAnswer> {
  const ac = new AbortController();
  const timer = after(opts.timeoutMs, () => ac.abort(new Error("timed out")));
  try {
    const res = await fetch(url, { signal: ac.signal, headers: { accept: "application/json" } });
    if (!(opts.okStatuses ?? [200]).includes(res.status)) {
      await res.body?.cancel();
      return { ok: false, status: res.status, error: `answered ${res.status}` };
    }
    return {
      ok: true,
      status: res.status,
      body: JSON.parse(new TextDecoder().decode(await readBody(res, { limit: opts.maxBytes }))),
    };
  } catch (err) {
    return { ok: false, error: errorMessage(err) };
  } finally {
    timer.cancel();
  }
}
