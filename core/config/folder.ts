/**
 * Creating the folder of a path setting. The launchers grant a path setting's own file, and its
 * folder only when that folder does not exist yet; a service must not fail on an existing folder
 * it was not granted. @module
 */
/**
 * Creates the folder `file` sits in (and its parents) unless it exists. A folder this process
 * may not write is left alone: it exists (the launcher grants a missing one), and opening the
 * file reports any real problem.
 * @example
 * ```ts
 * await ensureParentDir("/var/lib/iatp/audit.db");
 * ```
 * @throws {Error} any failure other than a denied permission, with the cause
 */
export async function ensureParentDir(file: string): Promise<void> {
  await ensureDir(parentDir(file));
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

/**
 * Creates folder `dir` (and its parents) unless it exists; a folder this process may not write
 * is left alone, as in {@linkcode ensureParentDir}.
 * @example
 * ```ts
 * await ensureDir(DATA_DIR);
 * ```
 * @throws {HomeNotExpandedError} for a path starting with `~`
 * @throws {Error} any failure other than a denied permission, with the cause
 */
export async function ensureDir(dir: string): Promise<void> {
  if (dir.startsWith("~")) throw new HomeNotExpandedError(dir);
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) return;
    throw err;
  }
}
