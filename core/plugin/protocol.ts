/**
 * Wire protocol between an agent (parent) and its `plugin-host` child.
 *
 * Parent -> child, on stdin: one JSON object per line (`init`, then `call`s).
 * Child -> parent, on stdout: one frame per line, `<token> <json>`. The token is a random
 * secret the parent sends in `init` before the plugin's Worker exists, so a plugin that writes
 * to stdout directly (it shares the process's fd 1) cannot forge a frame: its bytes are
 * counted as printed output ("noise"), bounded, and never parsed.
 * @module
 */

/** The Worker's permission set, as Deno's `deno.permissions` Worker option takes it. */
export interface WorkerPermissions {
  read: string[] | false;
  write: string[] | false;
  net: string[] | false;
  env: string[] | false;
  run: string[] | false;
  ffi: false;
  sys: string[] | false;
  import: false;
}

/** First line to the child: what to load, with what rights and limits. */
export interface InitFrame {
  t: "init";
  token: string;
  /** file: URL of the plugin entry module. */
  entryUrl: string;
  plugin: { id: string; version: string; kind: "trigger" | "action" | "output" };
  config: Record<string, unknown>;
  permissions: WorkerPermissions;
  maxOutputBytes: number;
  /** Host RSS ceiling in bytes; above it the host reports `oom` and exits. */
  rssLimitBytes: number;
  maxLogLines: number;
  maxEvents: number;
  /**
   * CPU time (ms, every thread of the host) the host may use in each 10 s between two calls (or
   * between its start and its first call); past it the host exits with
   * {@linkcode EXIT_HOST_IDLE_CPU}.
   */
  maxIdleCpuMs: number;
}

/** The callable plugin functions. */
export type PluginMethod = "detect" | "execute" | "send" | "health";

/** One call to the child. */
export interface CallFrame {
  t: "call";
  id: number;
  method: PluginMethod;
  arg?: unknown;
}

/** Child -> parent frames. */
export type HostFrame =
  | { t: "ready" }
  | { t: "fatal"; type: string; message: string; logs?: string[] }
  | { t: "oom"; rss: number; limit: number }
  | {
    t: "result";
    id: number;
    ok: true;
    value: unknown;
    logs: string[];
    truncated: boolean;
  }
  | {
    t: "result";
    id: number;
    ok: false;
    type: string;
    message: string;
    output?: string;
    logs: string[];
    truncated: boolean;
  };

/** Exit code the host uses when its RSS watchdog fires. */
export const EXIT_HOST_OOM = 86;
/** Exit code the host uses when its Worker dies outside a call. */
export const EXIT_WORKER_DIED = 87;
/** Exit code the host uses when it spent more than `maxIdleCpuMs` of CPU in 10 s between calls. */
export const EXIT_HOST_IDLE_CPU = 88;

const NL = 0x0a;

/**
 * Splits a byte stream into lines with a bound on line length. Over-long lines are not kept:
 * their bytes are only counted (`onOverflow`), so a hostile child cannot make the reader buffer
 * without limit.
 */
export class BoundedLineReader {
  #parts: Uint8Array[] = [];
  #size = 0;
  #overflowing = false;
  #decoder = new TextDecoder();

  /** @param maxLine longest line kept, in bytes @param onLine gets each complete line */
  constructor(
    readonly maxLine: number,
    private onLine: (line: string) => void,
    private onOverflow: (bytes: number) => void,
  ) {}

  /** Feeds one chunk. */
  push(chunk: Uint8Array): void {
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(NL, start);
      const end = nl === -1 ? chunk.length : nl;
      this.#append(chunk.subarray(start, end));
      if (nl === -1) return;
      this.#finishLine();
      start = nl + 1;
    }
  }

  #append(part: Uint8Array): void {
    if (part.length === 0) return;
    if (this.#overflowing) {
      this.onOverflow(part.length);
      return;
    }
    if (this.#size + part.length > this.maxLine) {
      this.onOverflow(this.#size + part.length);
      this.#parts = [];
      this.#size = 0;
      this.#overflowing = true;
      return;
    }
    this.#parts.push(part.slice());
    this.#size += part.length;
  }

  #finishLine(): void {
    if (this.#overflowing) {
      this.#overflowing = false;
      return;
    }
    const parts = this.#parts;
    this.#parts = [];
    const size = this.#size;
    this.#size = 0;
    if (parts.length === 1) return this.onLine(this.#decoder.decode(parts[0]));
    const all = new Uint8Array(size);
    let off = 0;
    for (const p of parts) {
      all.set(p, off);
      off += p.length;
    }
    this.onLine(this.#decoder.decode(all));
  }
}

/**
 * Splits one line from the child into the frame (after the token) and the noise before it.
 * Returns `frame: undefined` for a line that carries no token.
 */
export function splitFrame(line: string, token: string): { noise: number; frame?: string } {
  const at = line.indexOf(token + " ");
  if (at === -1) return { noise: line.length + 1 };
  return { noise: at, frame: line.slice(at + token.length + 1) };
}
