/**
 * One writer per store file: a SQLite store (the audit ledger, the relay's `sqlite:` history, the
 * policy's decision state) keeps its next position in memory, so a second process writing the
 * same file would collide with the first at every write and could leave either one failing.
 * @module
 */
import { FileInUseError } from "../errors/mod.ts";
import { createPrivateFile } from "./folder.ts";

/**
 * Takes the exclusive writer's lock (`flock`, apart from SQLite's own byte-range locks) on the
 * store file at `path`, creating an empty owner-only file (0600) when it is missing, and returns
 * the open file that holds it: closing the file releases it, and so does the end of the process.
 * `:memory:` (and an empty path) hold no file and take no lock. `exclusive: false` takes a shared lock instead, for
 * writers made to share a store (each of their writes one atomic statement): they hold it
 * together, and an exclusive writer and they keep each other out.
 * @example
 * ```ts
 * const lock = lockWriter("data/audit.db");
 * try { useTheStore(); } finally { lock?.close(); }
 * ```
 * @throws {FileInUseError} when another process (or another open store in this one) holds it
 * @throws {Error} when the file cannot be opened or created (Deno's error, naming the path)
 */
export function lockWriter(path: string, exclusive = true): Deno.FsFile | undefined {
  if (path === "" || path === ":memory:") return undefined;
  const file = createPrivateFile(path);
  let held = false;
  try {
    held = file.tryLockSync(exclusive);
  } finally {
    if (!held) file.close();
  }
  if (!held) throw new FileInUseError(path);
  return file;
}

/**
 * Takes the writer's lock on `path` ({@linkcode lockWriter}) and then opens the store with
 * `open`; a store that fails to open lets the lock go again. `readOnly`: no lock is taken (a
 * reader may read a file a running service writes).
 * @example
 * ```ts
 * const { lock, store } = openLocked("data/audit.db", () => new DatabaseSync("data/audit.db"));
 * ```
 * @throws {FileInUseError} when another process (or another open store in this one) holds it
 */
export function openLocked<T>(
  path: string,
  open: () => T,
  readOnly = false,
): { lock: Deno.FsFile | undefined; store: T } {
  const lock = readOnly ? undefined : lockWriter(path);
  try {
    return { lock, store: open() };
  } catch (err) {
    lock?.close();
    throw err;
  }
}
