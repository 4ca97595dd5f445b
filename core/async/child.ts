/**
 * The bounded wait for a child process's output: its pipes are read (their tail, within a bound)
 * while it runs, and for at most {@linkcode OUTPUT_AFTER_EXIT_MS} once it has ended.
 * @module
 */
import { settledWithin } from "./deadline.ts";

/**
 * How long the output pipes are read once the child has exited (or was killed). A process the
 * child left running (a daemon it started, a helper of the docker CLI outliving it) holds the
 * pipes open: without this bound the wait for their end outlasted the deadline, for as long as
 * that process lived.
 */
export const OUTPUT_AFTER_EXIT_MS = 1_000;

/** The text read so far from one output pipe (its tail, within the bound). */
class Capture {
  out = "";
  dropped = 0;
  /** The pipe was still open when reading stopped. */
  cut = false;
  /** The pipe ended (or failed) by itself. */
  ended = false;
  readonly done: Promise<void>;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;

  constructor(stream: ReadableStream<Uint8Array>, readonly max: number) {
    this.#reader = stream.getReader();
    this.done = this.#pump();
  }

  async #pump(): Promise<void> {
    const dec = new TextDecoder();
    try {
      for (;;) {
        const { value, done } = await this.#reader.read();
        if (done) return;
        // Keep the tail: the last lines of compose output say what failed.
        this.out += dec.decode(value, { stream: true });
        if (this.out.length > this.max) {
          this.dropped += this.out.length - this.max;
          this.out = this.out.slice(this.out.length - this.max);
        }
      }
    } catch {
      /* the pipe failed: what was read stands */
    } finally {
      if (!this.cut) this.ended = true;
    }
  }

  /** Stops reading a pipe still held open; what was read stands. */
  stop(): void {
    if (this.ended) return;
    this.cut = true;
    this.#reader.cancel().catch(() => {});
  }

  text(): string {
    const text = this.dropped > 0 ? `[... ${this.dropped} bytes dropped]\n${this.out}` : this.out;
    return this.cut
      ? `${text}${text === "" || text.endsWith("\n") ? "" : "\n"}[output still open ${
        OUTPUT_AFTER_EXIT_MS / 1000
      } s after the command ended (a process it left running holds it): not read further]`
      : text;
  }
}

/**
 * Waits for `child` to end, reading the tail (at most `max` characters each) of its output
 * `pipes`; once it has ended, a pipe still open after {@linkcode OUTPUT_AFTER_EXIT_MS} is not read
 * further (its text says so), so a process it left running cannot hold the wait open.
 * @example
 * ```ts
 * const child = new Deno.Command("git", { args: ["--version"], stderr: "piped" }).spawn();
 * const { status, texts: [stderr] } = await readUntilExit(child, [child.stderr], 4096);
 * ```
 */
export async function readUntilExit(
  child: Deno.ChildProcess,
  pipes: ReadableStream<Uint8Array>[],
  max: number,
): Promise<{ status: Deno.CommandStatus; texts: string[] }> {
  const captures = pipes.map((p) => new Capture(p, max));
  const status = await child.status;
  const all = Promise.all(captures.map((c) => c.done));
  if (!(await settledWithin(all, OUTPUT_AFTER_EXIT_MS))) {
    for (const c of captures) c.stop();
    await all;
  }
  return { status, texts: captures.map((c) => c.text()) };
}
