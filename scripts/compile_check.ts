/**
 * The compile check's look at a binary's file table: `deno compile` follows no computed
 * specifier, so a module the product loads only by one (core/config's `lateImport`, core/engine's
 * `loadDriver`) is in the binary only through `--include`. Every such module named by a string in
 * core/, cmd/ and plugins/, and the client a driver re-exports by path (the vendored postgres
 * client), must be in the binary's file table; what is not is listed.
 *
 * Usage: deno run --allow-read scripts/compile_check.ts BINARY (exit 1 naming what is missing)
 * @module
 */
import { join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const DIRS = ["core", "cmd", "plugins"];
/** A late load by a string: `lateImport<T>("./x.ts", import.meta.url)`, `loadDriver<T>("./x.ts"`. */
const LATE = /\b(lateImport|loadDriver)(?:<[^;]*?>)?\(\s*"([^"]+)"/gs;
/** A driver's re-export of the client it wraps: `export { default } from "./vendor/x/index.js"`. */
const REEXPORT = /^export\s*\{[^}]*\}\s*from\s*"(\.[^"]+)"/gm;

/** The checkout-relative paths of the modules loaded late by a string literal, sorted. */
export async function lateTargets(root: string = ROOT): Promise<string[]> {
  const out = new Set<string>();
  const walk = async (dir: string): Promise<void> => {
    for await (const e of Deno.readDir(dir)) {
      const path = join(dir, e.name);
      if (e.isDirectory) await walk(path);
      else if (/\.(ts|tsx|js)$/.test(e.name)) {
        const text = await Deno.readTextFile(path);
        for (const m of text.matchAll(LATE)) {
          if (!m[2].startsWith(".")) continue; // node:sqlite and the like are built in
          const target = fileURLToPath(new URL(m[2], pathToFileURL(path)));
          out.add(relative(root, target).replaceAll("\\", "/"));
          // The client a driver re-exports by path (the vendored postgres client) loads with it.
          if (m[1] !== "loadDriver") continue;
          for (const r of (await Deno.readTextFile(target)).matchAll(REEXPORT)) {
            const client = fileURLToPath(new URL(r[1], pathToFileURL(target)));
            out.add(relative(root, client).replaceAll("\\", "/"));
          }
        }
      }
    }
  };
  for (const d of DIRS) await walk(join(root, d));
  return [...out].sort();
}

/** The object (or array) that opens at `start` in `text`, its end found past strings. */
function objectAt(text: string, start: number): string | undefined {
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === "\\") i++;
    } else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") {
      if (--depth === 0) return text.slice(start, i + 1);
    }
  }
  return undefined;
}

interface Entry {
  Dir?: { n: string; e: Entry[] };
  File?: { n: string };
}

/**
 * The paths under each of `dirs` in a `deno compile` binary's file table (its JSON tree of
 * `{"Dir":{"n":..,"e":[..]}}` and `{"File":{"n":..}}` entries), relative to the checkout.
 */
export function embeddedPaths(binary: Uint8Array, dirs: string[] = DIRS): Set<string> {
  const text = new TextDecoder("latin1").decode(binary);
  const out = new Set<string>();
  const add = (e: Entry, prefix: string) => {
    if (e.File) out.add(prefix + e.File.n);
    if (e.Dir) { for (const c of e.Dir.e) add(c, `${prefix}${e.Dir.n}/`); }
  };
  for (const d of dirs) {
    const marker = `{"Dir":{"n":${JSON.stringify(d)},"e":[`;
    for (let at = text.indexOf(marker); at >= 0; at = text.indexOf(marker, at + 1)) {
      const json = objectAt(text, at);
      if (json === undefined) continue;
      try {
        add(JSON.parse(json) as Entry, "");
      } catch {
        // Not the file table: bytes that happen to look like its start.
      }
    }
  }
  return out;
}

/** The late-loaded modules `binary` lacks. */
export async function missingLateModules(binary: Uint8Array, root: string = ROOT) {
  const have = embeddedPaths(binary);
  return (await lateTargets(root)).filter((p) => !have.has(p));
}

if (import.meta.main) {
  const [file] = Deno.args;
  if (!file) {
    console.error("usage: compile_check.ts BINARY");
    Deno.exit(2);
  }
  const targets = await lateTargets();
  const missing = await missingLateModules(await Deno.readFile(file));
  if (missing.length > 0) {
    console.error(
      `compile check: not embedded: ${missing.join(" ")} (loaded by a computed specifier)`,
    );
    Deno.exit(1);
  }
  console.log(`compile check: ${targets.length} modules loaded by a computed specifier embed`);
}
