/**
 * Runs a child process with a deadline and bounded output capture (compose can print a lot).
 * @module
 */
import { delayOf } from "../../async/mod.ts";
import { errorMessage } from "../../errors/mod.ts";

/** Default bound on captured stdout/stderr per stream. */
export const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024;

/** Outcome of {@linkcode runProcess}. */
export interface ProcessResult {
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** Spawn failed (e.g. binary missing or not permitted): the message. */
  spawnError?: string;
}

/** Options for {@linkcode runProcess}. */
export interface ProcessOptions {
  cwd?: string;
  /**
   * The child's whole environment: nothing of this process's is passed on (its keys and
   * tokens are in it, and compose reads its environment into a file's `${VAR}` and `environment:`).
   */
  env?: Record<string, string>;
  timeoutMs: number;
  maxOutputBytes?: number;
}

async function capture(stream: ReadableStream<Uint8Array>, max: number): Promise<string> {
  const dec = new TextDecoder();
  let out = "";
  let dropped = 0;
  for await (const chunk of stream) {
    // Keep the tail: the last lines of compose output say what failed.
    out += dec.decode(chunk, { stream: true });
    if (out.length > max) {
      dropped += out.length - max;
      out = out.slice(out.length - max);
    }
  }
  return dropped > 0 ? `[... ${dropped} bytes dropped]\n${out}` : out;
}

/** Runs `cmd args`; SIGTERM at the deadline, SIGKILL 5 s later. Never throws. */
export async function runProcess(
  cmd: string,
  args: string[],
  opts: ProcessOptions,
): Promise<ProcessResult> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(cmd, {
      args,
      cwd: opts.cwd,
      env: opts.env ?? {},
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (err) {
    const msg = errorMessage(err);
    return { code: -1, stdout: "", stderr: "", timedOut: false, spawnError: msg };
  }
  const max = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  let timedOut = false;
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGTERM");
    } catch { /* exited */ }
    killTimer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
    }, 5000);
  }, delayOf(opts.timeoutMs));
  const [stdout, stderr, status] = await Promise.all([
    capture(child.stdout, max),
    capture(child.stderr, max),
    child.status,
  ]);
  clearTimeout(timer);
  clearTimeout(killTimer);
  return { code: status.code, stdout, stderr, timedOut };
}
