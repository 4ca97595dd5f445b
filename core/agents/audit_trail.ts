/**
 * The agent's local audit trail: JSON lines under logs/audit/, each carrying the SHA-256 of the
 * previous line's hash and its own content, so a deleted or edited line breaks the chain. Data
 * is scrubbed before hashing; files rotate at a size bound and the chain continues across them.
 * Agents sharing a trail file (sensors sharing a state folder) keep one chain: each append holds
 * an exclusive lock on `<file>.lock` and chains from the last line the file holds then.
 * @module
 */
import { sleep } from "../async/mod.ts";
import { sha256Hex } from "../crypto/mod.ts";
import { type Logger, scrub } from "../log/mod.ts";
import { PRIVATE_FILE_MODE } from "./layout.ts";
import type { ComponentHealth } from "./health.ts";

/** Largest serialized `data` of one record; bigger data is replaced by a truncation marker. */
const MAX_AUDIT_DATA_BYTES = 32 * 1024;
/** The first wait between two tries of the trail's lock; doubled up to {@linkcode LOCK_POLL_MAX_MS}. */
const LOCK_POLL_MIN_MS = 2;
const LOCK_POLL_MAX_MS = 50;
/** How long a health check's probe of the trail file is reused before it opens the file again. */
const PROBE_TTL_MS = 5_000;
/** The hash before the first record. */
export const GENESIS_HASH = "0".repeat(64);

/** One line of the trail. */
export interface AuditRecord {
  seq: number;
  ts: string;
  agent_id: string;
  event: string;
  data: unknown;
  prev: string;
  hash: string;
}

/** Receives a copy of each record (e.g. the audit service client); must not block or throw. */
type AuditForwarder = (record: AuditRecord, txId: string) => void;

/** Options for {@linkcode AuditTrail.open}. */
interface AuditTrailOptions {
  file: string;
  agentId: string;
  maxFileBytes: number;
  maxFiles: number;
  /** Longest wait for the lock another writer of the same file holds; the append fails after. */
  lockTimeoutMs: number;
  log: Logger;
  forward?: AuditForwarder;
}

const enc = new TextEncoder();

/** The hash of a record: over the previous hash and the record's content fields, in order. */
function recordHash(r: Omit<AuditRecord, "hash">): string {
  const content = JSON.stringify({
    seq: r.seq,
    ts: r.ts,
    agent_id: r.agent_id,
    event: r.event,
    data: r.data,
  });
  return sha256Hex(`${r.prev}\n${content}`);
}

function boundData(data: Record<string, unknown>): unknown {
  const clean = scrub(data);
  const text = JSON.stringify(clean) ?? "null";
  if (enc.encode(text).length <= MAX_AUDIT_DATA_BYTES) return clean;
  return { truncated: true, preview: text.slice(0, 1024) };
}

/** What the end of a trail file holds. */
interface Tail {
  /** The last whole record (undefined when no line of the tail read is one). */
  record: AuditRecord | undefined;
  /** The last line is not a record: a write cut short by a crash or a full disk. */
  torn: boolean;
  /** The file does not end with a line feed: the next line must start on a line of its own. */
  unterminated: boolean;
}

/**
 * The end of `file` (undefined when the file is missing or empty), read from its end in growing
 * chunks: a record line is at most {@linkcode MAX_AUDIT_DATA_BYTES} of data plus its fields, so a
 * tail twice that (and some) holds the whole last line, and the one before a torn last line.
 */
async function readTail(file: string): Promise<Tail | undefined> {
  let fh: Deno.FsFile;
  try {
    fh = await Deno.open(file, { read: true });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
  try {
    const size = (await fh.stat()).size;
    if (size === 0) return undefined;
    const cap = Math.min(size, MAX_AUDIT_DATA_BYTES * 4 + 8192);
    for (let want = Math.min(size, 4096);; want = Math.min(cap, want * 4)) {
      await fh.seek(size - want, Deno.SeekMode.Start);
      const buf = new Uint8Array(want);
      let off = 0;
      while (off < want) {
        const n = await fh.read(buf.subarray(off));
        if (n === null) break;
        off += n;
      }
      const unterminated = off > 0 && buf[off - 1] !== 0x0a;
      const lines = new TextDecoder().decode(buf.subarray(0, off)).split("\n");
      // The first line of a partial tail may be cut: it counts only when the tail is the file.
      const first = want < size ? 1 : 0;
      let torn = false;
      for (let i = lines.length - 1; i >= first; i--) {
        if (lines[i].trim() === "") continue;
        try {
          return { record: JSON.parse(lines[i]) as AuditRecord, torn, unterminated };
        } catch {
          torn = true;
        }
      }
      if (want >= cap) return { record: undefined, torn: true, unterminated };
    }
  } finally {
    fh.close();
  }
}

/** The last whole record of the trail (its file, else the file rotated before it), and its end. */
async function trailEnd(file: string): Promise<Tail> {
  const tail = await readTail(file);
  if (tail?.record) return tail;
  const before = await readTail(`${file}.1`);
  return {
    record: before?.record,
    torn: (tail?.torn ?? false) || (before?.torn ?? false),
    unterminated: tail?.unterminated ?? false,
  };
}

/** The warning of a trail whose last line is not a record. */
const TORN_WARNING = "audit trail's last line is not a record (a write cut short); chaining " +
  "from the last whole record";

/** Another writer held the trail's lock past `security.audit.lock_timeout`. */
class TrailLockTimeout extends Error {
  override name = "TrailLockTimeout";
  constructor() {
    super("another writer held the trail's lock past security.audit.lock_timeout");
  }
}

/**
 * Why a write failed, without the path Deno puts in its message: the OS reason
 * (`no space left on device`, `read-only file system`, `permission denied`), a lock held too long,
 * else the error name.
 */
function writeFailure(err: unknown): string {
  if (err instanceof TrailLockTimeout) return err.message;
  if (!(err instanceof Error)) return "write failed";
  const os = /^(.+?) \(os error \d+\)/.exec(err.message.split("\n")[0]);
  return os ? os[1].toLowerCase() : err.name;
}

/** An append-only hash-chained audit file. */
export class AuditTrail {
  #seq = 0;
  #prev = GENESIS_HASH;
  /** The file's last line has no line feed (a write cut short): the next record starts one. */
  #unterminated = false;
  /** The torn last line was warned about (once per trail). */
  #tornWarned = false;
  #tail: Promise<unknown> = Promise.resolve();
  #failures = 0;
  /** Why the last append failed; cleared by the next one that is written. */
  #lastFailure: { at: string; reason: string } | undefined;
  /** The last probe of the file by {@linkcode health}, reused for {@linkcode PROBE_TTL_MS}. */
  #probe: { at: number; reason?: string } | undefined;

  private constructor(private readonly opts: AuditTrailOptions) {}

  /**
   * Opens (or continues) the trail at `opts.file`, resuming the chain from its last line, read
   * under the lock (another agent sharing the file may be writing one). A lock that cannot be had
   * now (its folder missing, another writer past the timeout) leaves the reading to the first
   * append, which catches up under the lock anyway.
   */
  static async open(opts: AuditTrailOptions): Promise<AuditTrail> {
    const trail = new AuditTrail(opts);
    let lock: Deno.FsFile;
    try {
      lock = await trail.#lock();
    } catch (err) {
      if (err instanceof TrailLockTimeout || err instanceof Deno.errors.NotFound) return trail;
      throw err;
    }
    try {
      await trail.#catchUp();
    } finally {
      lock.close();
    }
    return trail;
  }

  /** Records that failed to be written (each is also logged). */
  get failures(): number {
    return this.#failures;
  }

  /**
   * Appends one record (scrubbed, bounded). Appends are serialized so the chain is linear; a
   * write failure is logged and counted, never thrown, so auditing cannot stop the agent.
   */
  append(
    event: string,
    data: Record<string, unknown>,
    txId = "",
  ): Promise<AuditRecord | undefined> {
    const next = this.#tail.then(() => this.#write(event, data, txId)).catch((err) => {
      this.#failures++;
      this.#lastFailure = { at: new Date().toISOString(), reason: writeFailure(err) };
      this.opts.log.error("audit append failed", { err, event });
      return undefined;
    });
    this.#tail = next;
    return next;
  }

  /**
   * The trail as `/health` shows it: not ok while the last append failed (a full disk) or the
   * file cannot be opened for appending now (a read-only or unwritable folder), with the OS
   * reason; never the path.
   */
  health(): ComponentHealth {
    const probe = this.#probeFile();
    const failure = this.#lastFailure;
    const reason = failure
      ? `last record not written: ${failure.reason}`
      : probe
      ? `trail cannot be opened for writing: ${probe}`
      : undefined;
    return {
      ok: reason === undefined,
      configured: true,
      records: this.#seq,
      failures: this.#failures,
      ...(reason ? { reason } : {}),
      ...(failure ? { failed_at: failure.at } : {}),
    };
  }

  /** Opens the file for appending (at most every {@linkcode PROBE_TTL_MS}); the OS reason when it cannot. */
  #probeFile(): string | undefined {
    const now = Date.now();
    if (this.#probe && now - this.#probe.at < PROBE_TTL_MS) return this.#probe.reason;
    let reason: string | undefined;
    try {
      Deno.openSync(this.opts.file, { append: true, create: true, mode: PRIVATE_FILE_MODE })
        .close();
    } catch (err) {
      reason = writeFailure(err);
    }
    this.#probe = { at: now, reason };
    return reason;
  }

  /** Waits for pending appends. */
  async flush(): Promise<void> {
    await this.#tail;
  }

  /**
   * Writes one record under the trail's lock, chained from the last record the file (or, just
   * after a rotation, its `.1`) holds now: another agent sharing the file may have appended
   * since this one last did. A file whose last line is not a record (or a trail whose files were
   * removed) continues from this trail's own last record.
   */
  async #write(event: string, data: Record<string, unknown>, txId: string): Promise<AuditRecord> {
    const lock = await this.#lock();
    let record: AuditRecord;
    try {
      await this.#catchUp();
      const body = {
        seq: this.#seq + 1,
        ts: new Date().toISOString(),
        agent_id: this.opts.agentId,
        event,
        data: boundData(data),
        prev: this.#prev,
      };
      record = { ...body, hash: recordHash(body) };
      // After a line cut short with no line feed, this record starts a line of its own.
      const line = (this.#unterminated ? "\n" : "") + JSON.stringify(record) + "\n";
      await this.#rotateIfNeeded(enc.encode(line).length);
      await Deno.writeTextFile(this.opts.file, line, { append: true, mode: PRIVATE_FILE_MODE });
    } finally {
      lock.close(); // lets the lock go
    }
    this.#seq = record.seq;
    this.#prev = record.hash;
    this.#lastFailure = undefined;
    this.#probe = undefined;
    try {
      this.opts.forward?.(record, txId || `agent-${this.opts.agentId}`);
    } catch (err) {
      this.opts.log.warn("audit forward failed", { err });
    }
    return record;
  }

  /**
   * Takes the exclusive lock on `<file>.lock` (created owner-only), trying again with a growing
   * pause for up to `lockTimeoutMs`: a writer holds it only for one append.
   * @throws {TrailLockTimeout} when another writer holds it that long
   */
  async #lock(): Promise<Deno.FsFile> {
    const fh = await Deno.open(`${this.opts.file}.lock`, {
      read: true,
      write: true,
      create: true,
      mode: PRIVATE_FILE_MODE,
    });
    try {
      const deadline = Date.now() + this.opts.lockTimeoutMs;
      for (let pause = LOCK_POLL_MIN_MS;; pause = Math.min(LOCK_POLL_MAX_MS, pause * 2)) {
        if (await fh.tryLock(true)) return fh;
        if (Date.now() >= deadline) throw new TrailLockTimeout();
        await sleep(pause);
      }
    } catch (err) {
      fh.close();
      throw err;
    }
  }

  /**
   * Continues from the last whole record on disk, when there is one (called under the lock): a
   * torn last line stays where it is, for verification to report, and is warned about once.
   */
  async #catchUp(): Promise<void> {
    const end = await trailEnd(this.opts.file);
    this.#unterminated = end.unterminated;
    if (end.torn && !this.#tornWarned) {
      this.#tornWarned = true;
      this.opts.log.warn(TORN_WARNING, { file: this.opts.file });
    }
    if (!end.record) return;
    this.#seq = end.record.seq;
    this.#prev = end.record.hash;
  }

  async #rotateIfNeeded(adding: number): Promise<void> {
    let size = 0;
    try {
      size = (await Deno.stat(this.opts.file)).size;
    } catch {
      return;
    }
    if (size + adding <= this.opts.maxFileBytes) return;
    const f = this.opts.file;
    await Deno.remove(`${f}.${this.opts.maxFiles}`).catch(() => {});
    for (let i = this.opts.maxFiles - 1; i >= 1; i--) {
      await Deno.rename(`${f}.${i}`, `${f}.${i + 1}`).catch(() => {});
    }
    await Deno.rename(f, `${f}.1`);
  }
}

/** Result of {@linkcode verifyAuditLines}. */
export interface AuditVerification {
  ok: boolean;
  count: number;
  lastHash: string;
  /** 1-based line number of the first bad line, and why. */
  error?: { line: number; reason: string };
}

/**
 * Verifies a trail's text (one file, or files concatenated oldest first). `start` is the hash the
 * first line must chain from: the genesis hash for a complete trail, or `null` to accept
 * whatever the first line names (a tail whose older rotated files are gone).
 */
export function verifyAuditLines(
  text: string,
  start: string | null = GENESIS_HASH,
): AuditVerification {
  let prev = start ?? "";
  const lines = text.split("\n");
  let count = 0;
  let expectedSeq: number | undefined;
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() === "") continue;
    let r: AuditRecord;
    try {
      r = JSON.parse(lines[i]);
    } catch {
      return { ok: false, count, lastHash: prev, error: { line: i + 1, reason: "not JSON" } };
    }
    const bad = (reason: string) => ({
      ok: false,
      count,
      lastHash: prev,
      error: { line: i + 1, reason },
    });
    if (count === 0 && start === null) prev = r.prev;
    if (r.prev !== prev) return bad("prev does not match the previous hash");
    if (expectedSeq !== undefined && r.seq !== expectedSeq) {
      return bad(`seq ${r.seq}, expected ${expectedSeq}`);
    }
    if (recordHash(r) !== r.hash) return bad("hash does not match the content");
    prev = r.hash;
    expectedSeq = r.seq + 1;
    count++;
  }
  return { ok: true, count, lastHash: prev };
}
