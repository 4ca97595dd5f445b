/**
 * Reading a file a setting names, up to a bound: a device (`/dev/zero`) or a huge file is an
 * error naming the bound, never an out-of-memory crash; and within a wait
 * (`IATP_FILE_READ_TIMEOUT`): a pipe with no writer (a FIFO) is an error saying no data arrived,
 * never a start that hangs.
 * @module
 */
import { after } from "../async/mod.ts";
import { ConfigError, type ConfigSource } from "../errors/mod.ts";
import { permittedEnv } from "./env.ts";
import { formatDuration, parseDuration } from "./units.ts";

/** Largest file a setting may name and have read whole (a config file, a key, a credential). */
export const MAX_SETTING_FILE_BYTES = 1024 * 1024;

/** The first read buffer's size; it doubles up to the bound as a file needs. */
const FIRST_READ_BYTES = 16 * 1024;

/** The variable that bounds how long a read of a file a setting names waits for its data. */
export const FILE_READ_TIMEOUT_ENV = "IATP_FILE_READ_TIMEOUT";
/** How long a read of a file a setting names waits for its data unless configured. */
export const DEFAULT_FILE_READ_TIMEOUT_MS = 5_000;
/** The longest wait `IATP_FILE_READ_TIMEOUT` may set. */
const MAX_FILE_READ_TIMEOUT_MS = 60 * 60_000;

/**
 * The wait `IATP_FILE_READ_TIMEOUT` sets (default 5s).
 * @example
 * ```ts
 * fileReadTimeout(); // 5000
 * ```
 * @throws {ConfigError} naming the variable for a value that is not a duration from 1ms to 1h
 */
export function fileReadTimeout(env: (name: string) => string | undefined = permittedEnv): number {
  const raw = env(FILE_READ_TIMEOUT_ENV);
  if (raw === undefined || raw.trim() === "") return DEFAULT_FILE_READ_TIMEOUT_MS;
  const ms = parseDuration(raw);
  if (ms === undefined || ms < 1 || ms > MAX_FILE_READ_TIMEOUT_MS) {
    const shown = raw.length > 40 ? `${raw.slice(0, 40)}...` : raw;
    throw new ConfigError(
      "file_read_timeout",
      { kind: "env", name: FILE_READ_TIMEOUT_ENV },
      "a duration from 1ms to 1h (500ms, 5s, 1m)",
      `string ${JSON.stringify(shown)}`,
    );
  }
  return ms;
}

/**
 * Thrown by {@linkcode readBytesWithin} when a file's data does not arrive, or does not end,
 * within the wait: a pipe with no writer, or whose writer does not close it.
 */
export class ReadTimeoutError extends Error {
  override name = "ReadTimeoutError";
  /**
   * @param timeoutMs the wait, in milliseconds
   * @param received bytes that arrived before it ended
   */
  constructor(readonly timeoutMs: number, readonly received: number) {
    super(
      received === 0
        ? `no data arrived within ${formatDuration(timeoutMs)} (a pipe with no writer?); ` +
          `${FILE_READ_TIMEOUT_ENV} sets the wait`
        : `its data did not end within ${formatDuration(timeoutMs)} (a pipe whose writer ` +
          `does not close it?); ${FILE_READ_TIMEOUT_ENV} sets the wait`,
    );
  }
}

/**
 * Thrown by the synchronous readers for a pipe (FIFO) not read ahead with
 * {@linkcode readPipeAhead}: a synchronous read of a pipe could wait for a writer forever.
 */
export class PipeNotReadAheadError extends Error {
  override name = "PipeNotReadAheadError";
  constructor() {
    super("a pipe (FIFO), which is not read here: give a regular file");
  }
}

/** Thrown by {@linkcode readTextUpTo} for a file over its bound; the message says the bound. */
export class FileTooLargeError extends Error {
  override name = "FileTooLargeError";
  /** @param limit the bound, in bytes */
  constructor(readonly limit: number) {
    super(`larger than ${limit} bytes`);
  }
}

/**
 * The bytes of `path`, read up to `limit`, into `buf` (grown by doubling as the file needs, up to
 * `limit + 1`): a view of `buf` or of its larger replacement, which a caller reading many files
 * passes back in (`new Uint8Array(bytes.buffer)`).
 * @example
 * ```ts
 * let buf = new Uint8Array(64 * 1024);
 * const bytes = readBytesUpTo("deno.json", 1 << 20, buf);
 * buf = new Uint8Array(bytes.buffer);
 * ```
 * @throws {FileTooLargeError} when the file holds more than `limit` bytes
 * @throws {PipeNotReadAheadError} for a pipe not read ahead ({@linkcode readPipeAhead})
 * @throws {Error} Deno's error when it cannot be opened or read
 */
export function readBytesUpTo(
  path: string,
  limit = MAX_SETTING_FILE_BYTES,
  buf: Uint8Array<ArrayBuffer> = new Uint8Array(Math.min(FIRST_READ_BYTES, limit + 1)),
): Uint8Array<ArrayBuffer> {
  const kept = pipesRead.get(path);
  if (kept) {
    if (kept.length > limit) throw new FileTooLargeError(limit);
    return kept.slice();
  }
  // Opening a pipe blocks until a writer opens it, and this thread is the one every timer runs on.
  if (Deno.statSync(path).isFifo) throw new PipeNotReadAheadError();
  return readOnThread(path, limit, buf);
}

/** Reads `path` (known not to be a pipe) up to `limit` on this thread. */
function readOnThread(
  path: string,
  limit: number,
  buf: Uint8Array<ArrayBuffer> = new Uint8Array(Math.min(FIRST_READ_BYTES, limit + 1)),
): Uint8Array<ArrayBuffer> {
  using file = Deno.openSync(path);
  let n = 0;
  for (;;) {
    if (n === buf.length) buf = grown(buf, limit);
    const got = file.readSync(buf.subarray(n));
    if (got === null) return buf.subarray(0, n);
    n += got;
  }
}

/** `buf`'s bytes in a buffer twice its size, up to `limit + 1`; over `limit`, refused. */
function grown(buf: Uint8Array<ArrayBuffer>, limit: number): Uint8Array<ArrayBuffer> {
  if (buf.length > limit) throw new FileTooLargeError(limit);
  const bigger = new Uint8Array(Math.min(Math.max(buf.length * 2, 1), limit + 1));
  bigger.set(buf);
  return bigger;
}

/** Options for {@linkcode readBytesWithin}. */
export interface ReadWithinOptions {
  /** Largest file read whole, in bytes (default {@linkcode MAX_SETTING_FILE_BYTES}). */
  limit?: number;
  /** The wait for the whole file, open to end (default: {@linkcode fileReadTimeout}). */
  timeoutMs?: number;
  /**
   * Open and read off the JavaScript thread even a path that is a regular file when looked at:
   * for a file re-read while a service runs, which may be swapped for a pipe between the look
   * and the open (a synchronous open of a pipe with no writer would stop every request).
   */
  offThread?: boolean;
}

/**
 * Paths whose read a wait gave up on while it still holds a runtime thread (in open(2) or a read
 * of a pipe): a new read of one fails at once rather than take another thread, so a file read
 * again and again (a token file, at each request) holds one thread at most.
 */
const stillWaiting = new Set<string>();

/**
 * The bytes of `path`, read up to a bound and within a wait. The open and the reads run off the
 * JavaScript thread, so the wait ends even while a pipe with no writer holds them; what they
 * return after it is closed and dropped. While an earlier read of `path` that a wait gave up on
 * still waits, a new one fails at once.
 * @example
 * ```ts
 * const bytes = await readBytesWithin("/etc/iatp/relay.yaml", { timeoutMs: 5_000 });
 * ```
 * @throws {ReadTimeoutError} when the file's data does not arrive or end within the wait
 * @throws {FileTooLargeError} when the file holds more than the bound
 * @throws {ConfigError} naming `IATP_FILE_READ_TIMEOUT` when it is not a duration
 * @throws {Error} Deno's error when it cannot be opened or read
 */
export async function readBytesWithin(
  path: string,
  opts: ReadWithinOptions = {},
): Promise<Uint8Array<ArrayBuffer>> {
  const limit = opts.limit ?? MAX_SETTING_FILE_BYTES;
  const timeoutMs = opts.timeoutMs ?? fileReadTimeout();
  if (stillWaiting.has(path)) throw new ReadTimeoutError(timeoutMs, 0);
  // A regular file's data is there (and a missing one is an error at once): it is read on this
  // thread, with no timer. Only what may wait (a pipe, a device) is read off it within the wait.
  if (!opts.offThread && Deno.statSync(path).isFile) return readOnThread(path, limit);
  const progress = { received: 0, abandoned: false };
  const work = readAsync(path, limit, progress);
  // The wait is a timer of core/async's queue: the global setTimeout is Node's, whose first use
  // loads 1.5-3 MB of polyfills into a process that had none (an idle service reading its key).
  let expire = () => {};
  const expired = new Promise<never>((_, reject) => expire = () => reject(TIMED_OUT));
  const timer = after(timeoutMs, expire);
  try {
    return await Promise.race([work, expired]);
  } catch (err) {
    if (err !== TIMED_OUT) throw err;
    progress.abandoned = true;
    stillWaiting.add(path);
    // Settles when a writer comes, or never: nothing waits on it.
    work.catch(() => {}).finally(() => stillWaiting.delete(path));
    throw new ReadTimeoutError(timeoutMs, progress.received);
  } finally {
    timer.cancel();
  }
}

/** The rejection of a read's wait (never seen outside {@linkcode readBytesWithin}). */
const TIMED_OUT = Symbol("timed out");

/** The reads behind {@linkcode readBytesWithin}; once `abandoned`, the file is closed. */
async function readAsync(
  path: string,
  limit: number,
  progress: { received: number; abandoned: boolean },
): Promise<Uint8Array<ArrayBuffer>> {
  using file = await Deno.open(path);
  let buf = new Uint8Array(Math.min(FIRST_READ_BYTES, limit + 1));
  let n = 0;
  for (;;) {
    if (progress.abandoned) throw new ReadTimeoutError(0, n);
    if (n === buf.length) buf = grown(buf, limit);
    const got = await file.read(buf.subarray(n));
    if (got === null) return buf.subarray(0, n);
    n += got;
    progress.received = n;
  }
}

/** Pipes read ahead, by path: a pipe's data can be read once, and later reads get it here. */
const pipesRead = new Map<string, Uint8Array<ArrayBuffer>>();

/**
 * Reads `path` ahead when it is a pipe (a FIFO, or process substitution's `/dev/fd/N`), within
 * the wait and up to {@linkcode MAX_SETTING_FILE_BYTES}, and keeps its data for the synchronous
 * readers ({@linkcode readTextUpTo}), which then never wait on it. Anything else is left to
 * them, read when they read it; a path that cannot be looked at, too.
 * @throws what {@linkcode readBytesWithin} throws
 */
export async function readPipeAhead(path: string): Promise<void> {
  // Not a pipe, or cannot be looked at: left to the reader, which names why.
  if (pipesRead.has(path) || !isPipe(path)) return;
  pipesRead.set(path, await readBytesWithin(path));
}

/**
 * Whether `path` is a pipe (a FIFO, or process substitution's `/dev/fd/N`), looked at on this
 * thread (see readBytesWithin); false when it cannot be looked at.
 */
export function isPipe(path: string): boolean {
  try {
    return Deno.statSync(path).isFifo === true;
  } catch {
    return false;
  }
}

/**
 * Refuses a file a service writes (a database, a log) that exists and is not a regular file: a
 * pipe (FIFO) waits for a reader that may never come, or fails as a disk I/O error; a device
 * keeps nothing. A path that does not exist yet, or cannot be looked at, is left to the opener.
 * @example
 * ```ts
 * requireRegularFile("state_db", "data/policy-state.db");
 * ```
 * @throws {ConfigError} naming `setting` when `path` is a folder, a pipe, a socket or a device
 */
export function requireRegularFile(setting: string, path: string, source?: ConfigSource): void {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch {
    return;
  }
  if (info.isFile) return;
  const what = info.isDirectory
    ? "a folder"
    : info.isFifo
    ? "a pipe (FIFO)"
    : info.isSocket
    ? "a socket"
    : "a device";
  throw new ConfigError(
    setting,
    source ?? { kind: "default" },
    "a regular file (or a path where one can be created)",
    `${path} (${what})`,
  );
}

/**
 * Reads ahead ({@linkcode readPipeAhead}) the pipe each `file:PATH` of a setting's value names
 * (a string, or a list of them); any other value is left alone.
 * @example
 * ```ts
 * await readFileRefsAhead("relay_token", "file:/dev/fd/63", { kind: "flag", name: "relay-token" });
 * ```
 * @throws {ConfigError} naming `key` and `source` when a pipe's data does not arrive or end
 * within the wait, or is larger than {@linkcode MAX_SETTING_FILE_BYTES}; naming
 * `IATP_FILE_READ_TIMEOUT` when it is not a duration
 */
export async function readFileRefsAhead(
  key: string,
  value: unknown,
  source: ConfigSource,
): Promise<void> {
  for (const item of Array.isArray(value) ? value : [value]) {
    if (typeof item !== "string" || !item.startsWith("file:")) continue;
    const path = item.slice(5);
    try {
      await readPipeAhead(path);
    } catch (err) {
      if (err instanceof ConfigError) throw err; // IATP_FILE_READ_TIMEOUT is not a duration
      throw new ConfigError(key, source, `a readable file at ${path}`, unreadableWhy(err), {
        cause: err,
      });
    }
  }
}

/**
 * Why a file a setting names could not be read, in a few words for a config error.
 * @example
 * ```ts
 * unreadableWhy(new Deno.errors.NotFound()); // "no such file"
 * ```
 */
export function unreadableWhy(err: unknown): string {
  return err instanceof FileTooLargeError || err instanceof ReadTimeoutError ||
      err instanceof PipeNotReadAheadError
    ? err.message
    : err instanceof Deno.errors.NotFound
    ? "no such file"
    : err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied
    ? "no permission to read it"
    : err instanceof Error
    ? err.message
    : String(err);
}

/** Thrown by {@linkcode readTextUpTo} for a file that is not UTF-8 text; `line` is 1-based. */
export class NotUtf8Error extends Error {
  override name = "NotUtf8Error";
  /** @param line the first line holding a byte sequence that is not UTF-8 */
  constructor(readonly line: number) {
    super(`not UTF-8 text (line ${line})`);
  }
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The UTF-8 text of `bytes`, decoded strictly; a UTF-8 byte order mark is left out.
 * @throws {NotUtf8Error} naming the first line that is not UTF-8 (a Latin-1 or UTF-16 file)
 */
export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    // A line feed byte is never part of a multi-byte sequence: decode line by line to find it.
    let line = 1;
    let start = 0;
    for (let i = 0; i <= bytes.length; i++) {
      if (i < bytes.length && bytes[i] !== 0x0a) continue;
      try {
        strictUtf8.decode(bytes.subarray(start, i));
      } catch {
        throw new NotUtf8Error(line);
      }
      line++;
      start = i + 1;
    }
    throw new NotUtf8Error(line - 1);
  }
}

/**
 * The UTF-8 text of `path`, read up to `limit` bytes.
 * @example
 * ```ts
 * readTextUpTo("/etc/iatp/issuer.pub"); // "iatp-ed25519:..."
 * ```
 * @throws {FileTooLargeError} when the file holds more than `limit` bytes
 * @throws {NotUtf8Error} when it is not UTF-8 text
 * @throws {Error} Deno's error when it cannot be opened or read
 */
export function readTextUpTo(path: string, limit = MAX_SETTING_FILE_BYTES): string {
  return decodeUtf8(readBytesUpTo(path, limit));
}

/**
 * The UTF-8 text of `path`, read up to a bound and within a wait ({@linkcode readBytesWithin}).
 * @example
 * ```ts
 * await readTextWithin("/run/iatp/relay.token"); // "iatp1...."
 * ```
 * @throws what {@linkcode readBytesWithin} throws, and {@linkcode NotUtf8Error}
 */
export async function readTextWithin(path: string, opts: ReadWithinOptions = {}): Promise<string> {
  return decodeUtf8(await readBytesWithin(path, opts));
}
