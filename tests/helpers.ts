/**
 * Shared test helpers: spawn `scripts/iatp` as a real child process, wait for health, and
 * collect output, all bounded in time.
 * @module
 */
import { fileURLToPath } from "node:url";
import type { Loaded, Shape } from "../core/config/mod.ts";

/** The checkout root. */
export const ROOT = fileURLToPath(new URL("../", import.meta.url));
/** The launcher. */
export const LAUNCHER = `${ROOT}scripts/iatp`;

/** Result of a finished child. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `scripts/iatp ...args` to completion (killed after `timeoutMs`). */
export async function runIatp(
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number; stdin?: string } = {},
): Promise<RunResult> {
  const child = new Deno.Command(LAUNCHER, {
    args,
    env: { ...opts.env },
    cwd: opts.cwd,
    stdin: opts.stdin !== undefined ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, opts.timeoutMs ?? 60_000);
  const out = await child.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A long-running child service. */
export interface ChildService {
  process: Deno.ChildProcess;
  /** Everything the child wrote to stdout so far. */
  stdout(): string;
  stderr(): string;
  /** Sends a signal and waits for exit (SIGKILL after `graceMs`). */
  stop(signal?: Deno.Signal, graceMs?: number): Promise<Deno.CommandStatus>;
}

/** Starts `scripts/iatp ...args` in the background, collecting its output. */
export function spawnIatp(
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string; clearEnv?: boolean } = {},
): ChildService {
  return spawnChild(LAUNCHER, args, opts);
}

/** Starts `command ...args` in the background, collecting its output. */
export function spawnChild(
  command: string,
  args: string[],
  /** `clearEnv`: the child gets `env` only, none of this process's variables. */
  opts: { env?: Record<string, string>; cwd?: string; clearEnv?: boolean } = {},
): ChildService {
  const process = new Deno.Command(command, {
    args,
    env: { ...opts.env },
    clearEnv: opts.clearEnv,
    cwd: opts.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  let err = "";
  const dec = () => new TextDecoder();
  const pump = async (s: ReadableStream<Uint8Array>, add: (t: string) => void) => {
    const d = dec();
    for await (const chunk of s) add(d.decode(chunk, { stream: true }));
  };
  const pumps = Promise.all([
    pump(process.stdout, (t) => out += t),
    pump(process.stderr, (t) => err += t),
  ]).catch(() => {});
  let stopped: Promise<Deno.CommandStatus> | undefined;
  return {
    process,
    stdout: () => out,
    stderr: () => err,
    stop(signal = "SIGTERM", graceMs = 15_000) {
      return stopped ??= (async () => {
        try {
          process.kill(signal);
        } catch { /* already exited */ }
        const timer = setTimeout(() => {
          try {
            process.kill("SIGKILL");
          } catch { /* gone */ }
        }, graceMs);
        const status = await process.status;
        clearTimeout(timer);
        await pumps;
        return status;
      })();
    },
  };
}

/** Polls `url` until it answers 200 (or throws after `timeoutMs`). */
export async function waitForOk(url: string, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < until) {
    try {
      const r = await fetch(url);
      await r.body?.cancel();
      if (r.status === 200) return;
      last = `status ${r.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await delay(100);
  }
  throw new Error(`${url} not ready after ${timeoutMs} ms: ${last}`);
}

/** Waits until `pred()` is true (or throws after `timeoutMs`). */
export async function waitFor(
  pred: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = "condition",
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await pred()) return;
    await delay(25);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/**
 * Freezes process `pid` (SIGSTOP) and resolves once every one of its threads is stopped. A stop
 * signal is taken by one thread, which then stops the others, each as it is next scheduled: on a
 * busy host another thread of the server may still answer a request after `kill` returns.
 */
export async function freeze(pid: number, timeoutMs = 10_000): Promise<void> {
  Deno.kill(pid, "SIGSTOP");
  await waitFor(() => threadsStopped(pid), timeoutMs, `every thread of process ${pid} stopped`);
}

function threadsStopped(pid: number): boolean {
  for (const t of Deno.readDirSync(`/proc/${pid}/task`)) {
    const stat = Deno.readTextFileSync(`/proc/${pid}/task/${t.name}/stat`);
    const state = stat[stat.lastIndexOf(")") + 2]; // the field after the name, which may hold ")"
    if (state !== "T" && state !== "t") return false;
  }
  return true;
}

/** Finds the `listening` URL a service logged, from its JSON log lines. */
export function listeningUrl(stdout: string): string | undefined {
  for (const line of stdout.split("\n")) {
    try {
      const rec = JSON.parse(line);
      if (rec.msg === "listening" && rec.fields?.url) return rec.fields.url;
    } catch { /* not a log line */ }
  }
  return undefined;
}

/**
 * Resolves with the URL `child` (started by the caller, e.g. through the launcher) logs as
 * `listening`; fails with its output after `timeoutMs`.
 */
export async function waitListening(child: ChildService, timeoutMs = 60_000): Promise<string> {
  let url: string | undefined;
  await waitFor(() => (url = listeningUrl(child.stdout())) !== undefined, timeoutMs, "listening")
    .catch((err) => {
      throw new Error(child.stdout() + child.stderr(), { cause: err });
    });
  return url!;
}

/** Starts a service child on port 0 and resolves with its URL once it logs `listening`. */
export async function startIatpService(
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number; clearEnv?: boolean } = {},
): Promise<ChildService & { url: string }> {
  const child = spawnIatp(args, opts);
  let url: string | undefined;
  let exited: Deno.CommandStatus | undefined;
  child.process.status.then((s) => exited = s);
  try {
    await waitFor(
      () => {
        if ((url = listeningUrl(child.stdout())) !== undefined) return true;
        // A start that failed (a config error, say) ends the wait at once.
        if (exited) {
          throw new Error(`iatp ${args.join(" ")} exited (${exited.code}) before listening`);
        }
        return false;
      },
      opts.timeoutMs ?? 30_000,
      `iatp ${args.join(" ")} to listen`,
    );
  } catch (err) {
    await child.stop("SIGKILL");
    throw new Error(
      `${(err as Error).message}\nstdout: ${child.stdout()}\nstderr: ${child.stderr()}`,
    );
  }
  return Object.assign(child, { url: url! });
}

/**
 * A loopback TCP port that was free a moment ago (bound, then released): for servers that cannot
 * listen on port 0 and report it, and for starting a server after its clients.
 */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  return port;
}

/** Resolves after `ms`. */
export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A fresh temp dir, removed by the returned function. */
export async function tempDir(
  prefix = "iatp-test-",
): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await Deno.makeTempDir({ prefix });
  return { path, remove: () => Deno.remove(path, { recursive: true }).catch(() => {}) };
}

/** A parse that was not `--help`; throws (failing the test) when it was. */
export function loaded<S extends Shape>(l: Loaded<S>): Extract<Loaded<S>, { help: false }> {
  if (l.help) throw new Error("expected a loaded config, got --help");
  return l;
}
