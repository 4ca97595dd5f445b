/**
 * Sidecar test fixtures: a real agent on a loopback port (echo, slow, status routes) and an
 * in-process sidecar in front of it, both on real sockets.
 * @module
 */
import { command } from "../../../cmd/sidecar.ts";
import type { SidecarConfig } from "../../../cmd/sidecar/config.ts";
import type { DeepPartial } from "../../../core/config/mod.ts";
import { createLogger, type Logger } from "../../../core/log/mod.ts";

/** What the agent received. */
export interface Received {
  path: string;
  headers: Headers;
  body: string;
}

/** A running fake agent. */
export interface Agent {
  url: string;
  received: Received[];
  close(): Promise<void>;
}

/**
 * Starts an agent on `port` (0: any): `/slow` waits `slowMs` (or until the caller gives up),
 * `/status/N` answers N.
 */
export function startAgent(slowMs = 5_000, port = 0): Agent {
  const received: Received[] = [];
  const waiting = new Set<() => void>();
  const server = Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, async (req) => {
    const u = new URL(req.url);
    const body = await req.text();
    received.push({ path: u.pathname + u.search, headers: req.headers, body });
    if (u.pathname === "/slow") {
      // Held until the delay passes or the agent closes (so shutdown never waits on it).
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, slowMs);
        function done() {
          clearTimeout(t);
          waiting.delete(done);
          resolve();
        }
        waiting.add(done);
      });
    }
    const status = u.pathname.startsWith("/status/") ? Number(u.pathname.slice(8)) : 200;
    if (status !== 200) {
      return new Response("custom", { status, headers: { "content-type": "text/plain" } });
    }
    return Response.json({ ok: true, path: u.pathname + u.search, echo: body });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    received,
    close: () => {
      for (const done of [...waiting]) done();
      return server.shutdown();
    },
  };
}

/** A running in-process sidecar with captured log lines. */
export interface Sidecar {
  url: string;
  logs: string[];
  close(): Promise<void>;
}

/** Starts the sidecar in-process on port 0 with `overrides` (one isolate unless they say). */
export async function startSidecar(overrides: DeepPartial<SidecarConfig>): Promise<Sidecar> {
  const logs: string[] = [];
  const log: Logger = createLogger({
    service: "sidecar",
    level: "debug",
    sink: (l) => logs.push(l),
  });
  const config = await command.spec.resolveAsync({
    port: 0,
    drain_timeout: 2_000,
    workers: 1,
    ...overrides,
  });
  const svc = await command.start(config, { log });
  return { url: svc.url, logs, close: () => svc.close() };
}

/** POSTs JSON (or raw text) to the sidecar's /proxy. */
export async function post(
  base: string,
  body: unknown,
  headers: Record<string, string> = {},
  path = "/proxy",
): Promise<{ status: number; headers: Headers; json: Record<string, unknown>; text: string }> {
  const res = await fetch(base + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text);
  } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, json, text };
}

/** A good override secret. */
export const TOKEN = "Zq8-vX2pLm7rT4wK-test";
