/**
 * Lists exported declarations that no other file names: candidates to un-export (used only in
 * their own file) or delete (used nowhere). A name counts as used when it appears as a word in
 * any other source file, tests included; names a module's mod.ts exports are its surface and
 * are not listed. Word matching errs on the side of "used" (a common name such as `start` is
 * always found somewhere); what it lists is worth a look, not a verdict.
 *
 * Usage: deno run --allow-read scripts/unused_exports.ts
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { sourceFiles, withoutComments } from "../tests/support/imports.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const DECLARATION =
  /^export\s+(?:declare\s+)?(?:async\s+)?(?:function\*?|class|const|let|interface|type|enum|abstract\s+class)\s+([A-Za-z_$][\w$]*)/gm;
const SURFACE = /^export\s+(?:type\s+)?\{([^}]*)\}\s+from/gm;

/** One exported name nobody else mentions. */
interface UnusedExport {
  file: string;
  name: string;
  /** Whether the declaring file itself uses it (un-export it) or not (delete it). */
  usedInFile: boolean;
}

function surfaceNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.matchAll(SURFACE)) {
    for (const part of m[1].split(",")) {
      const name = part.replace(/^\s*type\s+/, "").split(/\s+as\s+/).pop()?.trim();
      if (name) names.add(name);
    }
  }
  return names;
}

/** Exported declarations of main.ts, cmd/, core/, plugins/ and scripts/ no other file names. */
async function unusedExports(root: string): Promise<UnusedExport[]> {
  const all = await sourceFiles(root, ["main.ts", "cmd", "core", "plugins", "scripts", "tests"]);
  const texts = new Map<string, string>();
  for (const f of all) texts.set(f, withoutComments(await Deno.readTextFile(join(root, f))));
  const surface = new Set<string>();
  for (const [f, t] of texts) {
    if (f.endsWith("/mod.ts")) surfaceNames(t).forEach((n) => surface.add(n));
  }
  const out: UnusedExport[] = [];
  for (const [file, text] of texts) {
    if (file.startsWith("tests/")) continue;
    for (const m of text.matchAll(DECLARATION)) {
      const name = m[1];
      if (surface.has(name)) continue;
      const word = new RegExp(`(?<![\\w$])${name.replace(/\$/g, "\\$")}(?![\\w$])`, "g");
      const elsewhere = [...texts].some(([f, t]) => f !== file && t.match(word) !== null);
      if (elsewhere) continue;
      const uses = text.match(word)?.length ?? 0;
      out.push({ file, name, usedInFile: uses > 1 });
    }
  }
  return out;
}

if (import.meta.main) {
  const found = await unusedExports(ROOT);
  for (const u of found) {
    console.log(`${u.file}: ${u.name} (${u.usedInFile ? "used only in its file" : "unused"})`);
  }
  console.log(`${found.length} exported names referenced nowhere else`);
}
