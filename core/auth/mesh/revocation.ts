/**
 * The revoked credential ids of a service: ids named in config and ids listed in files
 * (`auth_revoked: ["file:/etc/iatp/revoked"]`, one `jti` per line), the files re-read when they
 * change, so revoking a credential needs no restart.
 * @module
 */
import { readTextUpTo, readTextWithin, unreadableWhy } from "../../config/mod.ts";
import type { Logger } from "../../log/mod.ts";

/** Largest revocation file read, in bytes (about 15,000 ids). */
export const MAX_REVOCATION_FILE_BYTES = 1024 * 1024;
/** How often a revocation file's size and mtime are checked, at most, in ms. */
export const DEFAULT_REVOCATION_RECHECK_MS = 1000;

/** What a credential verifier asks of a revocation list. */
export interface RevokedIds {
  has(jti: string): boolean;
  /**
   * A promise settled when a check of the list's files that is due or under way ends, so that
   * `has` then answers from it; undefined when none is due. Never rejects.
   */
  checked?(): Promise<void> | undefined;
}

/** Options for {@linkcode RevocationList}. */
export interface RevocationOptions {
  /** Minimum time between two checks of the files, in ms. */
  recheckMs?: number;
  log?: Logger;
  now?: () => number;
}

/** Thrown when a revocation file cannot be read at start. */
export class RevocationFileError extends Error {
  constructor(readonly path: string, readonly why: string, opts?: ErrorOptions) {
    super(`cannot read the revocation file ${path}: ${why}`, opts);
    this.name = "RevocationFileError";
  }
}

interface WatchedFile {
  path: string;
  stamp: string;
  ids: Set<string>;
}

/**
 * The ids of a revocation file: `#` starts a comment anywhere on a line (no `jti` holds one), and
 * the rest of a line may hold several ids apart by spaces or commas. A line read whole as one id,
 * `3f2a9c # laptop` or `3f2a9c, 7b1e0d`, named no credential, and revoked nothing it meant to.
 */
function parseIds(text: string): Set<string> {
  const ids = new Set<string>();
  for (const line of text.split("\n")) {
    const hash = line.indexOf("#");
    for (const id of (hash < 0 ? line : line.slice(0, hash)).split(/[\s,]+/)) {
      if (id !== "") ids.add(id);
    }
  }
  return ids;
}

function stampOf(info: Deno.FileInfo): string {
  return `${info.size}:${info.mtime?.getTime() ?? 0}`;
}

function readListFile(path: string): { stamp: string; ids: Set<string> } {
  const info = Deno.statSync(path);
  // Read up to the bound whatever the size says: a device reports 0 and never ends.
  return { stamp: stampOf(info), ids: parseIds(readTextUpTo(path, MAX_REVOCATION_FILE_BYTES)) };
}

/**
 * The ids of `path` re-read while the service runs: opened and read off the JavaScript thread
 * within `IATP_FILE_READ_TIMEOUT`, so a path swapped for a pipe with no writer holds one runtime
 * thread, never the one every request runs on.
 */
async function rereadListFile(path: string): Promise<{ stamp: string; ids: Set<string> }> {
  const info = Deno.statSync(path);
  const text = await readTextWithin(path, { limit: MAX_REVOCATION_FILE_BYTES, offThread: true });
  return { stamp: stampOf(info), ids: parseIds(text) };
}

/**
 * Revoked ids from config entries: an id, or `file:PATH` naming a file of ids. A file that
 * changes is re-read on the next check (at most every `recheckMs`, on the request that finds one
 * due; a credential's check waits for it, off the service's thread, before answering); one that
 * becomes unreadable, or whose data does not arrive within `IATP_FILE_READ_TIMEOUT` (a pipe with
 * no writer), keeps its last ids (a revocation is never lifted by a read error) and is reported
 * once per change.
 *
 * @example
 * ```ts
 * const revoked = new RevocationList(["c0ffee", "file:/etc/iatp/revoked"]);
 * revoked.has("c0ffee"); // true
 * ```
 */
export class RevocationList implements RevokedIds {
  readonly #fixed: Set<string>;
  readonly #files: WatchedFile[] = [];
  readonly #recheckMs: number;
  readonly #log?: Logger;
  readonly #now: () => number;
  #checkedAt = 0;
  #checking: Promise<void> | undefined;

  /**
   * @param entries ids, or `file:PATH` entries read now.
   * @throws {RevocationFileError} when a file cannot be read or is over the size bound.
   */
  constructor(entries: Iterable<string>, opts: RevocationOptions = {}) {
    this.#fixed = new Set<string>();
    this.#recheckMs = opts.recheckMs ?? DEFAULT_REVOCATION_RECHECK_MS;
    this.#log = opts.log;
    this.#now = opts.now ?? Date.now;
    for (const e of entries) {
      if (!e.startsWith("file:")) {
        this.#fixed.add(e);
        continue;
      }
      const path = e.slice(5);
      try {
        this.#files.push({ path, ...readListFile(path) });
      } catch (err) {
        throw new RevocationFileError(path, unreadableWhy(err), { cause: err });
      }
    }
    this.#checkedAt = this.#now();
  }

  /** Number of ids revoked now. */
  get size(): number {
    let n = this.#fixed.size;
    for (const f of this.#files) n += f.ids.size;
    return n;
  }

  /**
   * True when `jti` is revoked, by the list in force. When a check of the files is due it is
   * started (a stat of each, a read of one that changed, off this thread); `checked()` waits
   * for it, so a revocation counts from the first credential checked after it.
   */
  has(jti: string): boolean {
    this.checked();
    if (this.#fixed.has(jti)) return true;
    return this.#files.some((f) => f.ids.has(jti));
  }

  /** The check of the files under way, started when one is due; undefined when none is. */
  checked(): Promise<void> | undefined {
    if (this.#checking) return this.#checking;
    if (this.#files.length === 0 || this.#now() - this.#checkedAt < this.#recheckMs) return;
    this.#checkedAt = this.#now();
    return this.#startCheck();
  }

  /** Re-reads every file whose size or mtime changed, now. Never throws. */
  async refresh(): Promise<void> {
    await this.#checking;
    await this.#startCheck();
  }

  #startCheck(): Promise<void> {
    const run = (async () => {
      for (const f of this.#files) await this.#refreshFile(f);
    })().finally(() => {
      if (this.#checking === run) this.#checking = undefined;
    });
    this.#checking = run;
    return run;
  }

  async #refreshFile(f: WatchedFile): Promise<void> {
    try {
      if (stampOf(Deno.statSync(f.path)) === f.stamp) return;
      const next = await rereadListFile(f.path);
      const before = f.ids.size;
      f.ids = next.ids;
      f.stamp = next.stamp;
      this.#log?.info("revocation list reloaded", { file: f.path, ids: f.ids.size, before });
    } catch (err) {
      const failed = `error:${unreadableWhy(err)}`;
      if (f.stamp === failed) return;
      f.stamp = failed;
      this.#log?.warn("revocation list unreadable: keeping its last ids", {
        file: f.path,
        error: unreadableWhy(err),
        ids: f.ids.size,
      });
    }
  }
}
