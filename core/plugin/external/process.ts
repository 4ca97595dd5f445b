/**
 * One sandboxed plugin process seen from the agent: spawned under bwrap, stdout read as bounded
 * lines (or collected whole), stderr kept as a bounded tail, killed (the whole sandbox, through
 * its process group) on timeout or close.
 * @module
 */
import { delayOf } from "../../async/mod.ts";

/** Bytes of stderr kept for diagnostics and the call's logs. */
export const STDERR_TAIL_BYTES = 8 * 1024;
/** How long a stopping plugin may take to exit after `stop` and EOF. */
const STOP_GRACE_MS = 2_000;

/** A running sandboxed process. */
export class SandboxedProcess {
  readonly child: Deno.ChildProcess;
  readonly exited: Promise<Deno.CommandStatus>;
  /** Resolves when stdout has ended (every line is buffered). */
  readonly done: Promise<void>;
  #lines: string[] = [];
  #waiters: Array<(line: string | undefined) => void> = [];
  #stderr = "";
  #stdoutBytes = 0;
  #overflow = false;
  #ended = false;
  #writer: WritableStreamDefaultWriter<Uint8Array>;

  /**
   * @param maxLineBytes longest stdout line accepted
   * @param maxTotalBytes all stdout accepted (one-shot runs), unbounded when omitted
   */
  constructor(
    cmd: { cmd: string; args: string[] },
    readonly maxLineBytes: number,
    readonly maxTotalBytes?: number,
  ) {
    this.child = new Deno.Command(cmd.cmd, {
      args: cmd.args,
      clearEnv: true,
      env: { PATH: "/usr/local/bin:/usr/bin:/bin" },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#writer = this.child.stdin.getWriter();
    this.exited = this.child.status;
    this.done = this.#pumpStdout();
    this.#pumpStderr();
  }

  /** Process id of bwrap. */
  get pid(): number {
    return this.child.pid;
  }

  /** True once stdout ended (the process exited or closed it). */
  get ended(): boolean {
    return this.#ended;
  }

  /** True when a line (or the collected output) exceeded the cap. */
  get overflowed(): boolean {
    return this.#overflow;
  }

  /** The stderr tail. */
  get stderr(): string {
    return this.#stderr;
  }

  /** Writes one line to stdin; false when the process no longer reads. */
  async send(line: string): Promise<boolean> {
    try {
      await this.#writer.write(new TextEncoder().encode(line + "\n"));
      return true;
    } catch {
      return false;
    }
  }

  /** Closes stdin (EOF). */
  async endInput(): Promise<void> {
    await this.#writer.close().catch(() => {});
  }

  /** The next stdout line, or undefined at EOF or after `timeoutMs`. */
  nextLine(timeoutMs: number): Promise<string | undefined> {
    const ready = this.#lines.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.#ended) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const done = (l: string | undefined) => {
        clearTimeout(timer);
        const i = this.#waiters.indexOf(done);
        if (i >= 0) this.#waiters.splice(i, 1);
        resolve(l);
      };
      const timer = setTimeout(() => done(undefined), delayOf(timeoutMs));
      this.#waiters.push(done);
    });
  }

  /** Every stdout line so far, joined (collect mode). */
  drain(): string {
    return this.#lines.splice(0).join("\n");
  }

  /** Kills the sandbox (bwrap dies, and with it every process in its namespaces). */
  kill(): void {
    try {
      this.child.kill("SIGKILL");
    } catch { /* gone */ }
  }

  /** Sends EOF, waits `graceMs` for an exit, then kills. */
  async stop(graceMs = STOP_GRACE_MS): Promise<Deno.CommandStatus> {
    await this.endInput();
    const timer = setTimeout(() => this.kill(), delayOf(graceMs));
    const s = await this.exited;
    clearTimeout(timer);
    return s;
  }

  async #pumpStdout(): Promise<void> {
    const dec = new TextDecoder();
    let buf = "";
    try {
      for await (const chunk of this.child.stdout) {
        this.#stdoutBytes += chunk.length;
        buf += dec.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          this.#push(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
        }
        const total = this.maxTotalBytes !== undefined && this.#stdoutBytes > this.maxTotalBytes;
        if (buf.length > this.maxLineBytes || total) {
          this.#overflow = true;
          this.kill();
          break;
        }
      }
    } catch { /* killed */ }
    if (buf.trim() !== "") this.#push(buf);
    this.#ended = true;
    for (const w of this.#waiters.splice(0)) w(undefined);
  }

  #push(line: string): void {
    const w = this.#waiters.shift();
    if (w) w(line);
    else this.#lines.push(line);
  }

  async #pumpStderr(): Promise<void> {
    const dec = new TextDecoder();
    try {
      for await (const chunk of this.child.stderr) {
        this.#stderr = (this.#stderr + dec.decode(chunk, { stream: true })).slice(
          -STDERR_TAIL_BYTES,
        );
      }
    } catch { /* killed */ }
  }
}
