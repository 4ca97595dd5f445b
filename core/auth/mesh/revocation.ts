/**
 * The revoked credential ids of a service: ids named in config and ids listed in files
 * (`auth_revoked: ["file:/etc/iatp/revoked"]`, one `jti` per line), the files re-read when they
 * change, so revoking a credential needs no restart.
 * @module
 */
import { readTextUpTo } from "../../config/mod.ts";
import { errorMessage } from "../../errors/mod.ts";
import type { Logger } from "../../log/mod.ts";

/** Largest revocation file read, in bytes (about 15,000 ids). */
export const MAX_REVOCATION_FILE_BYTES = 1024 * 1024;
/** How often a revocation file's size and mtime are checked, at most, in ms. */
export const DEFAULT_REVOCATION_RECHECK_MS = 1000;

/** What a credential verifier asks of a revocation list. */
export interface RevokedIds {
  has(jti: string): boolean;
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

function parseIds(text: string): Set<string> {
  const ids = new Set<string>();
  for (const line of text.split("\n")) {
    const id = line.trim();
    if (id !== "" && !id.startsWith("#")) ids.add(id);
  }
  return ids;
}

function stampOf(info: Deno.FileInfo): string {
  return `${info.size}:${info.mtime?.getTime() ?? 0}`;
}

function whyNot(err: unknown): string {
  if (err instanceof Deno.errors.NotFound) return "no such file";
  if (err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied) {
    return "no permission to read it";
  }
  return errorMessage(err);
}

function readListFile(path: string): { stamp: string; ids: Set<string> } {
  const info = Deno.statSync(path);
  // Read up to the bound whatever the size says: a device reports 0 and never ends.
  return { stamp: stampOf(info), ids: parseIds(readTextUpTo(path, MAX_REVOCATION_FILE_BYTES)) };
}

/**
 * Revoked ids from config entries: an id, or `file:PATH` naming a file of ids. A file that
 * changes is re-read on the next check (at most every `recheckMs`, on the request that finds one
 * due, before answering it); one that becomes unreadable keeps its last ids (a
 * revocation is never lifted by a read error) and is reported once per change.
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
        throw new RevocationFileError(path, whyNot(err), { cause: err });
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
   * True when `jti` is revoked. When a check of the files is due it runs first (a stat of each,
   * a read of one that changed), so a revocation counts from the first request after it.
   */
  has(jti: string): boolean {
    if (this.#files.length > 0 && this.#now() - this.#checkedAt >= this.#recheckMs) {
      this.#checkedAt = this.#now();
      this.#refreshAll();
    }
    if (this.#fixed.has(jti)) return true;
    return this.#files.some((f) => f.ids.has(jti));
  }

  /** Re-reads every file whose size or mtime changed, now. Never throws. */
  refresh(): Promise<void> {
    this.#refreshAll();
    return Promise.resolve();
  }

  #refreshAll(): void {
    for (const f of this.#files) this.#refreshFile(f);
  }

  #refreshFile(f: WatchedFile): void {
    try {
      if (stampOf(Deno.statSync(f.path)) === f.stamp) return;
      const next = readListFile(f.path);
      const before = f.ids.size;
      f.ids = next.ids;
      f.stamp = next.stamp;
      this.#log?.info("revocation list reloaded", { file: f.path, ids: f.ids.size, before });
    } catch (err) {
      const failed = `error:${whyNot(err)}`;
      if (f.stamp === failed) return;
      f.stamp = failed;
      this.#log?.warn("revocation list unreadable: keeping its last ids", {
        file: f.path,
        error: whyNot(err),
        ids: f.ids.size,
      });
    }
  }
}
