/**
 * The attestation's `codebase_hash`: SHA-256 over the program's own source files, computed so
 * anyone can reproduce it with coreutils:
 * `find main.ts deno.json deno.lock cmd core -type f | LC_ALL=C sort | xargs sha256sum | sha256sum`.
 * @module
 */
import { sha256Hex } from "../crypto/mod.ts";

/** What is hashed, relative to the checkout root. */
const CODEBASE_ENTRIES = ["main.ts", "deno.json", "deno.lock", "cmd", "core"];
/** Bound on files hashed (a runaway tree must not stall startup). */
const MAX_CODEBASE_FILES = 5000;

async function listFiles(root: string, rel: string, out: string[]): Promise<void> {
  const info = await Deno.stat(`${root}/${rel}`);
  if (info.isFile) {
    out.push(rel);
    return;
  }
  if (!info.isDirectory) return;
  for await (const entry of Deno.readDir(`${root}/${rel}`)) {
    if (out.length >= MAX_CODEBASE_FILES) throw new RangeError("too many source files");
    await listFiles(root, `${rel}/${entry.name}`, out);
  }
}

/** Hashes the source tree under `root`; returns the hex digest and the number of files. */
export async function hashCodebase(root: string): Promise<{ hash: string; files: number }> {
  const base = root.replace(/\/+$/, "");
  const files: string[] = [];
  for (const entry of CODEBASE_ENTRIES) {
    try {
      await listFiles(base, entry, files);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) continue;
      throw err;
    }
  }
  // Byte order, as `LC_ALL=C sort` gives (paths are ASCII in this tree).
  files.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  let listing = "";
  for (const f of files) {
    listing += `${sha256Hex(await Deno.readFile(`${base}/${f}`))}  ${f}\n`;
  }
  return { hash: sha256Hex(listing), files: files.length };
}
