/**
 * Structured JSON-lines logging: `{ts, level, msg, service, fields}` to stdout, scrubbed.
 *
 * @example
 * ```ts
 * const log = createLogger({ service: "relay", level: "info" });
 * log.info("listening", { url: "http://127.0.0.1:8005" });
 * ```
 * @module
 */
import { printable } from "./printable.ts";
import { scrub, scrubString } from "./scrub.ts";
import { isoTimestamp } from "./time.ts";

export {
  addScrubber,
  isSensitiveKey,
  REDACTED,
  registerSecret,
  scrub,
  scrubString,
} from "./scrub.ts";
export type { Scrubber } from "./scrub.ts";
export { imfFixdate, isoTimestamp } from "./time.ts";
export { printable } from "./printable.ts";
export { LOG_EVERY_MS, LogEvery } from "./every.ts";

/**
 * Environment switches with which a dependency prints to stdout by itself, past this log and its
 * scrubber: the YAML parser's `LOG_TOKENS` and `LOG_STREAM` print every token of a document it
 * reads (a config file's credentials, a compose file's environment). The permission table grants
 * them only because that parser reads them unconditionally (a read refused would throw); they are
 * removed from this process's environment as the log loads, before any document is parsed.
 */
const PRINTING_ENV: readonly string[] = ["LOG_TOKENS", "LOG_STREAM"];
for (const name of PRINTING_ENV) {
  try {
    Deno.env.delete(name);
  } catch { /* not granted: the parser cannot read it either */ }
}

/** Log levels, lowest first. */
export const LEVELS = ["debug", "info", "warn", "error"] as const;
/** A log level. */
export type Level = typeof LEVELS[number];

/** Fields attached to a log line. */
export type Fields = Record<string, unknown>;

/** A structured logger. */
export interface Logger {
  readonly service: string;
  readonly level: Level;
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  /** A logger that adds `fields` to every line (e.g. a request id). */
  child(fields: Fields): Logger;
}

/** Options for {@linkcode createLogger}. */
export interface LoggerOptions {
  service: string;
  level?: Level;
  /** Where complete lines go (without newline); default: stdout. */
  sink?: (line: string) => void;
  /** Fields added to every line. */
  fields?: Fields;
}

const encoder = new TextEncoder();

/** Writes one line to stdout synchronously, looping over partial writes. */
function stdoutSink(line: string): void {
  const bytes = encoder.encode(line + "\n");
  let off = 0;
  try {
    while (off < bytes.length) off += Deno.stdout.writeSync(bytes.subarray(off));
  } catch {
    // stdout closed (e.g. a broken pipe): logging must never crash a service.
  }
}

/**
 * Builds one scrubbed JSON line. JSON.stringify escapes C0 controls but writes DEL, C1 controls
 * (U+009B is a terminal's CSI), U+2028/U+2029 and format characters (U+202E) as they are; those
 * are written as `\uXXXX` too, so a name a client sent cannot act on the terminal or the viewer
 * that shows the line. The line still parses to the same values.
 */
function formatLine(level: Level, service: string, msg: string, fields: Fields): string {
  return printable(jsonLine(level, service, msg, fields));
}

function jsonLine(level: Level, service: string, msg: string, fields: Fields): string {
  const rec: Record<string, unknown> = {
    ts: isoTimestamp(Date.now()),
    level,
    msg: scrubString(msg),
    service,
  };
  if (Object.keys(fields).length > 0) rec.fields = scrub(fields);
  try {
    return JSON.stringify(rec);
  } catch {
    return JSON.stringify({ ...rec, fields: "[UNSERIALIZABLE]" });
  }
}

/** Creates a logger. Lines below `level` are dropped before any formatting work. */
export function createLogger(opts: LoggerOptions): Logger {
  const level = opts.level ?? "info";
  const min = LEVELS.indexOf(level);
  const sink = opts.sink ?? stdoutSink;
  const base = opts.fields ?? {};
  const emit = (lv: Level, msg: string, fields?: Fields) => {
    if (LEVELS.indexOf(lv) < min) return;
    sink(formatLine(lv, opts.service, msg, { ...base, ...fields }));
  };
  return {
    service: opts.service,
    level,
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (fields) => createLogger({ ...opts, level, fields: { ...base, ...fields } }),
  };
}

/** A logger that discards everything (for library use without a service). */
export const silentLogger: Logger = createLogger({
  service: "silent",
  level: "error",
  sink: () => {},
});
