/**
 * The tree's import graph as Deno itself resolves it (`deno info --json` over one root that
 * imports every file): static, dynamic and type-only imports, each with the importing and the
 * imported file, relative to the checkout. Also the files' texts, for rules about statements.
 * @module
 */
import { join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** One import: `from` imports `to` (both relative to the checkout root). */
export interface ImportEdge {
  from: string;
  to: string;
  /** Erased at run time (`import type`, or a type-only re-export). */
  typeOnly: boolean;
  /** `import("...")`. */
  dynamic: boolean;
}

/** Folders never read: third-party code, test data that imports on purpose what it must not. */
const SKIPPED_DIRS = new Set(["node_modules", "vendor", "fixtures", ".deno", "dist", "data"]);
const SOURCE = /\.(ts|tsx|js)$/;

/** Every source file below `dirs` (and files named directly), relative to `root`, sorted. */
export async function sourceFiles(root: string, dirs: string[]): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string) => {
    const info = await Deno.stat(join(root, rel));
    if (info.isFile) {
      if (SOURCE.test(rel)) out.push(rel);
      return;
    }
    for await (const e of Deno.readDir(join(root, rel))) {
      if (e.isDirectory && SKIPPED_DIRS.has(e.name)) continue;
      await walk(`${rel}/${e.name}`);
    }
  };
  for (const d of dirs) await walk(d);
  return out.sort();
}

interface InfoModule {
  specifier: string;
  dependencies?: Array<{
    isDynamic?: boolean;
    code?: { specifier?: string };
    type?: { specifier?: string };
  }>;
}

/**
 * The import edges among `files` (and whatever else of the checkout they import).
 * @throws {Error} when `deno info` fails
 */
export async function importGraph(root: string, files: string[]): Promise<ImportEdge[]> {
  const dir = await Deno.makeTempDir({ prefix: "iatp-imports-" });
  try {
    const entry = join(dir, "all.ts");
    const lines = files.map((f) => `import ${JSON.stringify(pathToFileURL(join(root, f)).href)};`);
    await Deno.writeTextFile(entry, lines.join("\n") + "\n");
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", "--config", join(root, "deno.json"), entry],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    if (!out.success) throw new Error(`deno info failed: ${stderr}`);
    const info = JSON.parse(new TextDecoder().decode(out.stdout)) as { modules: InfoModule[] };
    return edgesOf(root, info.modules);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function edgesOf(root: string, modules: InfoModule[]): ImportEdge[] {
  const inTree = (specifier: string | undefined): string | undefined => {
    if (!specifier?.startsWith("file:")) return undefined;
    const rel = relative(root, fileURLToPath(specifier));
    return rel.startsWith("..") ? undefined : rel;
  };
  const edges: ImportEdge[] = [];
  for (const m of modules) {
    const from = inTree(m.specifier);
    if (!from) continue;
    for (const d of m.dependencies ?? []) {
      const code = inTree(d.code?.specifier);
      const to = code ?? inTree(d.type?.specifier);
      if (to) edges.push({ from, to, typeOnly: !code, dynamic: d.isDynamic === true });
    }
  }
  return edges;
}

/** `text` with block and line comments blanked (strings are left as they are). */
export function withoutComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, " "))
    .replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1");
}

/** One import of an npm package, as written in a file. */
export interface PackageImport {
  /** The package name (`@nats-io/jetstream`, `postgres`), without `npm:` or a version. */
  pkg: string;
  /** `import type` (erased), a static import or re-export, or `import("...")`. */
  kind: "type" | "static" | "dynamic";
}

/** An import or re-export clause holds only names, braces, commas, `*`, `as` and `type`. */
const STATIC_IMPORT = /^\s*(?:import|export)\s+(type\s+)?[\w\s{},*$]*?\bfrom\s*["']([^"']+)["']/gm;
const BARE_IMPORT = /^\s*import\s*["']([^"']+)["']/gm;
const DYNAMIC_IMPORT = /\bimport\(\s*["']([^"']+)["']\s*\)/g;

/** The package a bare or `npm:` specifier names, or undefined for a path or a `node:` module. */
function packageOf(specifier: string): string | undefined {
  if (/^node:[a-z_/]+$/.test(specifier)) return specifier; // a runtime module: node:crypto
  const s = specifier.replace(/^npm:\/?/, "");
  if (/^(\.|\/|[a-z]+:)/.test(s)) return undefined;
  const parts = s.split("/");
  const name = s.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
  const bare = name.replace(/(.)@[^/]*$/, "$1");
  return /^(@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*$/.test(bare) ? bare : undefined;
}

/**
 * The npm packages a source text imports, each with how (comments are ignored).
 *
 * @example
 * ```ts
 * packageImports('import type { Sql } from "postgres";'); // [{ pkg: "postgres", kind: "type" }]
 * ```
 */
export function packageImports(text: string): PackageImport[] {
  const code = withoutComments(text);
  const out: PackageImport[] = [];
  const add = (specifier: string, kind: PackageImport["kind"]) => {
    const pkg = packageOf(specifier);
    if (pkg) out.push({ pkg, kind });
  };
  for (const m of code.matchAll(STATIC_IMPORT)) add(m[2], m[1] ? "type" : "static");
  for (const m of code.matchAll(BARE_IMPORT)) add(m[1], "static");
  for (const m of code.matchAll(DYNAMIC_IMPORT)) add(m[1], "dynamic");
  return out;
}
