/**
 * Runs a child process with a deadline and bounded output capture (compose can print a lot).
 * @module
 */
import { delayOf, readUntilExit } from "../../async/mod.ts";
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
  /** Written to the child's standard input, which is then closed (none when absent). */
  stdin?: string;
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
      stdin: opts.stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (err) {
    const msg = errorMessage(err);
    return { code: -1, stdout: "", stderr: "", timedOut: false, spawnError: msg };
  }
  if (opts.stdin !== undefined) {
    // A child that exits without reading it all closes the pipe: not an error of the run.
    const writer = child.stdin.getWriter();
    writer.write(new TextEncoder().encode(opts.stdin)).then(() => writer.close()).catch(() => {});
  }
  const max = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  let timedOut = false;
  let exited = false;
  child.status.then(() => exited = true, () => exited = true);
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const timer = setTimeout(() => {
    // Ended, its output pipes still being read: not a timeout.
    if (exited) return;
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
  const { status, texts: [stdout, stderr] } = await readUntilExit(
    child,
    [child.stdout, child.stderr],
    max,
  );
  clearTimeout(timer);
  clearTimeout(killTimer);
  return { code: status.code, stdout, stderr, timedOut };
}
