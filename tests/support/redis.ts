/**
 * A throwaway Redis server for tests: `redis-server` on a free loopback port with a password,
 * no persistence, stopped after. Can be killed (SIGKILL) and started again on the same port.
 * @module
 */
import { freePort } from "../helpers.ts";

/** Why a throwaway server cannot start here, or undefined when it can (for `ignore:`). */
export const redisMissing: string | undefined = (() => {
  try {
    const ok = new Deno.Command("redis-server", { args: ["--version"], stdout: "null" })
      .outputSync().success;
    return ok ? undefined : "redis-server (apt redis-server) does not run";
  } catch {
    return "redis-server (apt redis-server) is not installed";
  }
})();

/** Longest wait for the server to accept connections. */
const START_TIMEOUT_MS = 15_000;
const PASSWORD = "redis-test-secret";

/** A running throwaway server. */
export interface TestRedis {
  /** `redis://127.0.0.1:PORT` (no password: pass {@linkcode password} separately). */
  url: string;
  password: string;
  port: number;
  /** Kills the server (SIGKILL); its data is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port. */
  restart(): Promise<void>;
  /** Freezes the server (SIGSTOP): connections stay open, nothing is answered. */
  pause(): void;
  /** Lets a paused server go on (SIGCONT). */
  resume(): void;
  stop(): Promise<void>;
}

/**
 * Starts a server.
 * @throws {Error} when redis-server is missing or never listens.
 */
export async function startRedis(): Promise<TestRedis> {
  if (redisMissing) throw new Error(redisMissing);
  const port = freePort();
  let child: Deno.ChildProcess | undefined;
  const start = async () => {
    child = new Deno.Command("redis-server", {
      args: [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--requirepass",
        PASSWORD,
        "--save",
        "",
        "--appendonly",
        "no",
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await waitAccepting(port);
  };
  const kill = async () => {
    if (!child) return;
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
    child = undefined;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    password: PASSWORD,
    port,
    kill,
    restart: start,
    pause: () => child?.kill("SIGSTOP"),
    resume: () => child?.kill("SIGCONT"),
    stop: async () => {
      child?.kill("SIGCONT");
      await kill();
    },
  };
}

async function waitAccepting(port: number): Promise<void> {
  const until = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      c.close();
      return;
    } catch (err) {
      if (Date.now() > until) throw new Error(`Redis on ${port} never listened`, { cause: err });
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
