/**
 * An instruction's execution log: `[2006-01-02T15:04:05.000Z] msg` lines (the Stavily format,
 * docs/protocols.md), scrubbed of secrets, cards and SSNs (redact.ts) and bounded in line count and
 * line length so a chatty plugin cannot grow a report without limit.
 * @module
 */
import { redactErrorText } from "./redact.ts";

/** Longest line kept; longer lines are cut with a marker. */
export const MAX_LOG_LINE_CHARS = 2_000;

/**
 * Formats one log line at `date`. Line breaks become spaces, and any other control character
 * (a tab aside) or U+2028/U+2029 is written as `\uXXXX`: a plugin's printed text lands in these
 * lines, and an escape sequence (`\u001b[2K\u001b[1G`) shown on a terminal could erase the
 * `plugin: ` prefix and pass its text off as the agent's own line.
 */
export function logLine(msg: string, date = new Date()): string {
  const clean = redactErrorText(
    msg.replace(/[\r\n]+/g, " ").replace(
      /[^\P{Cc}\t]|[\u2028\u2029]/gu,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
    ),
  );
  const cut = clean.length > MAX_LOG_LINE_CHARS
    ? clean.slice(0, MAX_LOG_LINE_CHARS) + " [truncated]"
    : clean;
  return `[${date.toISOString()}] ${cut}`;
}

/** A bounded execution log; when full it keeps the first and the latest lines. */
export class ExecutionLog {
  #head: string[] = [];
  #tail: string[] = [];
  #dropped = 0;

  /** @param maxLines lines kept in total (half from the start, half most recent) */
  constructor(readonly maxLines: number) {}

  /** Adds a line stamped now. */
  add(msg: string): void {
    const line = logLine(msg);
    const headMax = Math.ceil(this.maxLines / 2);
    if (this.#head.length < headMax) {
      this.#head.push(line);
      return;
    }
    this.#tail.push(line);
    if (this.#tail.length > this.maxLines - headMax) {
      this.#tail.shift();
      this.#dropped++;
    }
  }

  /** The lines so far, with a marker where lines were dropped. */
  lines(): string[] {
    if (this.#dropped === 0) return [...this.#head, ...this.#tail];
    return [...this.#head, logLine(`... ${this.#dropped} lines omitted ...`), ...this.#tail];
  }
}
