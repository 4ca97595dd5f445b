/**
 * The attestation's `codebase_hash`: SHA-256 over the program's own source files, computed so
 * anyone can reproduce it with coreutils:
 * `find main.ts deno.json deno.lock cmd core -type f | LC_ALL=C sort | xargs sha256sum | sha256sum`.
 * @module
 */
import { readBytesUpTo } from "../config/mod.ts";
import { sha256HexOfBody } from "../crypto/mod.ts";

/** What is hashed, relative to the checkout root. */
const CODEBASE_ENTRIES = ["main.ts", "deno.json", "deno.lock", "cmd", "core"];
/** Bound on files hashed (a runaway tree must not stall startup). */
const MAX_CODEBASE_FILES = 5000;
/** Bytes the read buffer starts with (it grows to the largest file). */
const INITIAL_READ_BYTES = 64 * 1024;
/** Bound on one source file (a device or a runaway file must not exhaust memory at start). */
const MAX_CODEBASE_FILE_BYTES = 16 * 1024 * 1024;
/**
 * How far the kernel's file clock may lag the wall clock, in ms: Linux stamps files from a clock
 * updated once a tick (10 ms at 100 Hz, the coarsest), so a file written a few ms after a moment
 * can carry a time before it. A file stamped within this much before `unchangedSince` counts as
 * changed after it (one written just before the start costs the attestation, never the reverse).
 */
export const FILE_CLOCK_SLACK_MS = 20;

/**
 * Thrown by {@linkcode hashCodebase} when a source file or folder changed after the moment its
 * caller names (`unchangedSince`): the tree on disk is no longer the one that moment saw.
 */
export class SourcesChangedError extends Error {
  constructor(readonly path: string) {
    super(`source changed since the program started: ${path}`);
    this.name = "SourcesChangedError";
  }
}

/**
 * Throws when `path` may have changed after `since` (ms since the epoch): its status-change time
 * (set by the kernel on every write, rename or attribute change, never by a caller), or its
 * modification time where the file system has none or within the second of `since` (Deno reports
 * the status-change time in whole seconds), is later than `since` less
 * {@linkcode FILE_CLOCK_SLACK_MS}. A file with neither (a compiled binary's embedded sources,
 * which cannot change) passes.
 */
function checkUnchanged(path: string, rel: string, since: number | undefined): void {
  if (since === undefined) return;
  checkInfo(Deno.statSync(path), rel, since);
}

function checkInfo(info: Deno.FileInfo, rel: string, since: number): void {
  // The earliest file time that may be a write after `since`, the file clock lagging.
  const from = since - FILE_CLOCK_SLACK_MS;
  const ctime = info.ctime?.getTime();
  const mtime = info.mtime?.getTime();
  if (ctime === undefined) {
    if (mtime !== undefined && mtime > from) throw new SourcesChangedError(rel);
    return;
  }
  // Deno gives the status-change time in whole seconds (the modification time in ms): within
  // the second of `from` it cannot tell before from after, and the modification time decides.
  const wholeSecond = ctime % 1000 === 0;
  const after = ctime > from ||
    (wholeSecond && ctime + 1000 > from && (mtime === undefined || mtime > from));
  if (after) throw new SourcesChangedError(rel);
}

/**
 * The source files under `base`, sorted in byte order, each folder (and with `since`, each
 * top-level entry) checked unchanged. A top-level entry missing is skipped, unless the root
 * folder changed after `since` (then it may have been there at that moment: removed since); one
 * that is a link is checked itself too (pointed elsewhere since). Anything else missing during
 * the walk is an error, not a folder left out.
 */
function listSources(base: string, since: number | undefined): string[] {
  const files: string[] = [];
  for (const entry of CODEBASE_ENTRIES) {
    let link: Deno.FileInfo;
    try {
      link = Deno.lstatSync(`${base}/${entry}`);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
      checkUnchanged(base, entry, since);
      continue;
    }
    if (since !== undefined && link.isSymlink) checkInfo(link, entry, since);
    listFiles(base, entry, files, since);
  }
  // Byte order, as `LC_ALL=C sort` gives (paths are ASCII in this tree).
  return files.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function listFiles(root: string, rel: string, out: string[], since?: number): void {
  const info = Deno.statSync(`${root}/${rel}`);
  if (info.isFile) out.push(rel);
  else if (info.isDirectory) listDir(root, rel, out, since);
}

/** The files below the folder `rel`: each entry's type from the listing, a link's from stat. */
function listDir(root: string, rel: string, out: string[], since?: number): void {
  // A file added, removed or renamed changes its folder.
  checkUnchanged(`${root}/${rel}`, rel, since);
  for (const entry of Deno.readDirSync(`${root}/${rel}`)) {
    if (out.length >= MAX_CODEBASE_FILES) throw new RangeError("too many source files");
    const path = `${rel}/${entry.name}`;
    if (entry.isSymlink) listFiles(root, path, out, since);
    else if (entry.isFile) out.push(path);
    else if (entry.isDirectory) listDir(root, path, out, since);
  }
}

/**
 * Hashes the source tree under `root`; returns the hex digest and the number of files. The tree is
 * listed from the folders' entries (a stat only for a link) and each file read synchronously into
 * one reused buffer and hashed natively: it runs at start, with nothing else to serve yet, and a
 * JavaScript hash of the whole tree made V8 optimize it there, which with a read buffer per file
 * cost an idle sidecar about 5 MB of resident memory.
 *
 * With `unchangedSince` (ms since the epoch), the hash is of the tree as it was then, or nothing:
 * every folder listed and every file read is checked to have changed no later than that moment
 * (a file after its bytes are read), so a hash made later is of the same bytes as one made then.
 * @throws {SourcesChangedError} when a file or folder changed after `unchangedSince`
 * @throws {RangeError} when there are more than 5,000 files; {FileTooLargeError} for a file of
 * more than 16 MiB
 */
export async function hashCodebase(
  root: string,
  opts: { unchangedSince?: number } = {},
): Promise<{ hash: string; files: number }> {
  const since = opts.unchangedSince;
  const base = root.replace(/\/+$/, "");
  const files = listSources(base, since);
  let buf = new Uint8Array(INITIAL_READ_BYTES);
  let listing = "";
  for (const f of files) {
    const bytes = readBytesUpTo(`${base}/${f}`, MAX_CODEBASE_FILE_BYTES, buf);
    checkUnchanged(`${base}/${f}`, f, since); // after the read: a write during it shows too
    buf = new Uint8Array(bytes.buffer);
    listing += `${await sha256HexOfBody(bytes)}  ${f}\n`;
  }
  return { hash: await sha256HexOfBody(new TextEncoder().encode(listing)), files: files.length };
}

/**
 * Checks, without reading them, that the source files and folders under `root` (those
 * {@linkcode hashCodebase} hashes) changed no later than `since` (ms since the epoch). Called
 * after code was loaded from the tree late: then the bytes loaded were those of that moment.
 * @throws {SourcesChangedError} when one changed after `since`
 * @throws {RangeError} when there are more than 5,000 files
 */
export function checkSourcesUnchanged(root: string, since: number): void {
  const base = root.replace(/\/+$/, "");
  for (const f of listSources(base, since)) checkUnchanged(`${base}/${f}`, f, since);
}
