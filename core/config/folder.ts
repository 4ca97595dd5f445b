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
 * Creates folder `dir` (and its parents) unless it exists; a folder this process may not write
 * is left alone, as in {@linkcode ensureParentDir}.
 * @example
 * ```ts
 * await ensureDir(DATA_DIR);
 * ```
 * @throws {Error} any failure other than a denied permission, with the cause
 */
export async function ensureDir(dir: string): Promise<void> {
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) return;
    throw err;
  }
}
