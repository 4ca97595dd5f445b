/**
 * Creating the folder of a path setting. The launchers grant a path setting's own file, and its
 * folder only when that folder does not exist yet; a service must not fail on an existing folder
 * it was not granted. @module
 */
/**
 * Creates the folder `file` sits in (and its parents) unless it exists, owner-only as
 * {@linkcode ensureDir} makes it, and returns it when it exists open to other users. A folder
 * this process may not write is left alone: it exists (the launcher grants a missing one), and
 * opening the file reports any real problem.
 * @example
 * ```ts
 * await ensureParentDir("/var/lib/iatp/audit.db");
 * ```
 * @throws {Error} any failure other than a denied permission, with the cause
 */
export async function ensureParentDir(file: string): Promise<OpenFolder | undefined> {
  return await ensureDir(parentDir(file));
}

/**
 * The local path a `file:` URL names, as `node:url`'s `fileURLToPath` gives it on POSIX (escapes
 * decoded), without loading Deno's Node layer at start.
 * @example
 * ```ts
 * filePath(new URL("file:///opt/iatp/a%20b.ts")); // "/opt/iatp/a b.ts"
 * ```
 * @throws {TypeError} for a URL that is not `file:`, names a host, or holds an encoded `/`
 */
export function filePath(url: URL): string {
  if (url.protocol !== "file:") throw new TypeError(`not a file: URL: ${url.protocol}`);
  if (url.hostname !== "") throw new TypeError("a file: URL with a host");
  if (/%2f/i.test(url.pathname)) throw new TypeError("a file: URL with an encoded /");
  return decodeURIComponent(url.pathname);
}

/**
 * The folder part of a POSIX path, as `node:path`'s `dirname` gives it (`.` for a bare name,
 * trailing slashes ignored), without loading Deno's Node layer at start (3-4 MB of an idle
 * service).
 * @example
 * ```ts
 * parentDir("/var/lib/iatp/audit.db"); // "/var/lib/iatp"
 * parentDir("audit.db"); // "."
 * ```
 */
export function parentDir(path: string): string {
  if (path.length === 0) return ".";
  const rooted = path[0] === "/";
  let end = -1;
  let inTrailingSlashes = true;
  for (let i = path.length - 1; i >= 1; i--) {
    if (path[i] === "/") {
      if (!inTrailingSlashes) {
        end = i;
        break;
      }
    } else {
      inTrailingSlashes = false;
    }
  }
  if (end === -1) return rooted ? "/" : ".";
  if (rooted && end === 1) return "//";
  return path.slice(0, end);
}

/**
 * A POSIX path with `.` and `..` segments and repeated slashes resolved, as `node:path`'s
 * `normalize` gives it (`.` for an empty path, a trailing slash kept), without loading Deno's
 * Node layer at start.
 * @example
 * ```ts
 * normalizePath("/var/lib//iatp/../audit.db"); // "/var/lib/audit.db"
 * normalizePath("a/../.."); // ".."
 * ```
 */
export function normalizePath(path: string): string {
  if (path.length === 0) return ".";
  const rooted = path[0] === "/";
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part !== "..") out.push(part);
    else if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
    else if (!rooted) out.push("..");
  }
  const body = out.join("/");
  const joined = rooted ? `/${body}` : body === "" ? "." : body;
  return path.endsWith("/") && !joined.endsWith("/") ? `${joined}/` : joined;
}

/**
 * The non-empty `parts` joined by `/` and normalized, as `node:path`'s `join` gives it.
 * @example
 * ```ts
 * joinPath("/var/lib/iatp", "state", "agent.db"); // "/var/lib/iatp/state/agent.db"
 * ```
 */
export function joinPath(...parts: string[]): string {
  return normalizePath(parts.filter((p) => p !== "").join("/"));
}

/**
 * `path` as an absolute, normalized path without a trailing slash (a relative one against the
 * working folder), as `node:path`'s `resolve` gives it for one path.
 * @example
 * ```ts
 * resolvePath("data/sensor"); // "/srv/iatp/data/sensor" in /srv/iatp
 * ```
 * @throws {Deno.errors.NotCapable} for a relative path without permission to read the working
 * folder
 */
export function resolvePath(path: string): string {
  const abs = normalizePath(path[0] === "/" ? path : `${Deno.cwd()}/${path}`);
  return abs.length > 1 && abs.endsWith("/") ? abs.slice(0, -1) : abs;
}

/**
 * A folder to create whose path starts with `~`: no shell expanded it (a config file, a unit's
 * `Environment=`, a container's `-e`), and iatp does not, so it would be a folder named `~` in
 * the working folder.
 */
export class HomeNotExpandedError extends Error {
  override name = "HomeNotExpandedError";
  constructor(readonly path: string) {
    super(`${path}: a leading ~ is not expanded (write the home folder out)`);
  }
}

/** Mode of a folder a service makes for its data: owner only. */
export const PRIVATE_DIR_MODE = 0o700;
/** Mode of a data file a service makes (a store, its key, its state): owner read/write only. */
export const PRIVATE_FILE_MODE = 0o600;

/** An existing folder that other users may read or enter (its `mode`, the permission bits). */
export interface OpenFolder {
  path: string;
  mode: string;
}

/**
 * Creates folder `dir` (and its parents) unless it exists, each folder it makes owner-only
 * (0700 whatever the umask); a folder this process may not write is left alone, as in
 * {@linkcode ensureParentDir}. An existing folder keeps its mode: when other users may read or
 * enter it (and this process may see its mode), it is returned, for a notice.
 * @example
 * ```ts
 * const open = await ensureDir(DATA_DIR);
 * if (open) log.warn("other users may read the data folder", { ...open });
 * ```
 * @throws {HomeNotExpandedError} for a path starting with `~`
 * @throws {Error} any failure other than a denied permission, with the cause
 */
export async function ensureDir(dir: string): Promise<OpenFolder | undefined> {
  if (dir.startsWith("~")) throw new HomeNotExpandedError(dir);
  try {
    try {
      await Deno.mkdir(dir, { mode: PRIVATE_DIR_MODE });
    } catch (err) {
      if (err instanceof Deno.errors.AlreadyExists) return await openFolder(dir, err);
      if (!(err instanceof Deno.errors.NotFound)) throw err;
      // Its parents are missing too: they are made with it (0700 less the umask), as the
      // launcher grants the folder the setting names, not the parents above it.
      await Deno.mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
    }
    await Deno.chmod(dir, PRIVATE_DIR_MODE); // the umask may have narrowed it further
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) return;
    throw err;
  }
}

/**
 * The existing `dir` when group or other bits are set on it; undefined when they are not or its
 * mode may not be read. `exists` is rethrown when `dir` is no folder.
 */
async function openFolder(dir: string, exists: Error): Promise<OpenFolder | undefined> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch {
    return undefined;
  }
  if (!info.isDirectory) throw exists;
  const mode = (info.mode ?? 0) & 0o777;
  if ((mode & 0o077) === 0) return undefined;
  return { path: dir, mode: `0${mode.toString(8)}` };
}

/**
 * Opens `path` for reading and writing, creating it owner-only (0600 whatever the umask) when it
 * is missing; an existing file keeps its mode. SQLite gives a database's `-wal` and `-shm` files
 * the database file's mode, so a store opened on a file made here keeps those owner-only too.
 * @example
 * ```ts
 * createPrivateFile("data/replay.db").close();
 * ```
 * @throws {Error} when the file cannot be opened or created (Deno's error, naming the path)
 */
export function createPrivateFile(path: string): Deno.FsFile {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, {
      read: true,
      write: true,
      createNew: true,
      mode: PRIVATE_FILE_MODE,
    });
  } catch (err) {
    if (err instanceof Deno.errors.AlreadyExists) {
      return Deno.openSync(path, { read: true, write: true });
    }
    throw err;
  }
  try {
    Deno.chmodSync(path, PRIVATE_FILE_MODE);
  } catch (err) {
    file.close();
    throw err;
  }
  return file;
}
