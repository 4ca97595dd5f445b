/**
 * Import audit: before a plugin loads, lex every module it can reach and reject any import that
 * leaves the plugin folder (after `..` and symlink resolution), goes remote, or reaches for a
 * Node built-in outside a small harmless allow-list.
 *
 * Why: literal import specifiers in a Worker load with the host process's rights, not the
 * Worker's, so the Worker's permissions alone cannot stop `import "/etc/passwd"`. Computed
 * dynamic imports (`import(x)`) are resolved at run time against the Worker's permissions and are
 * left to them.
 * @module
 */
import { init as lexerReady, parse as lex } from "es-module-lexer";
import { basename, extname } from "node:path";
import { fileURLToPath as fromFileUrl, pathToFileURL as toFileUrl } from "node:url";
import { PluginError } from "./errors.ts";
import { isInside } from "./paths.ts";
import { FileTooLargeError, readBytesWithin, ReadTimeoutError } from "../config/mod.ts";
import { errorMessage } from "../errors/mod.ts";

/**
 * Node built-ins a plugin may import: pure computation, or (node:os) calls that Deno gates with
 * the same `sys` permission as its own APIs. Anything with file, process or network reach is out.
 */
const NODE_BUILTIN_ALLOW_LIST: ReadonlySet<string> = new Set([
  "assert",
  "assert/strict",
  "buffer",
  "crypto",
  "events",
  "os",
  "path",
  "path/posix",
  "querystring",
  "string_decoder",
  "url",
  "util",
]);

/** Most modules one plugin may contain (bounds audit work on hostile input). */
const MAX_AUDIT_FILES = 500;
/** Largest module the audit reads, in bytes. */
const MAX_MODULE_BYTES = 4 * 1024 * 1024;
/** Most problems listed in one error message. */
const MAX_PROBLEMS_LISTED = 20;

const CODE_EXTS = new Set([".ts", ".js", ".mjs", ".mts", ".cts", ".cjs"]);
/** File name of the authoring types; only `import type` of it is allowed (erased at load). */
const SDK_FILE = "sdk.ts";

/** One module the audit visited, and the imports it allowed. */
export interface AuditReport {
  /** Real paths of every module in the graph, entry first. */
  modules: string[];
  /** Computed dynamic imports seen (left to the Worker's permissions), as `file:offset`. */
  computedImports: string[];
  /**
   * Names the entry module exports, or undefined when they cannot be known without running it
   * (an `export * from`).
   */
  entryExports?: string[];
}

interface Ctx {
  root: string;
  problems: string[];
  queue: string[];
  seen: Set<string>;
  report: AuditReport;
}

/**
 * Audits the module graph from `entry` (relative to `dir`). Throws PluginError("import_denied")
 * listing every offending import, naming the file and the specifier.
 * @throws {PluginError} `import_denied` listing every offending import
 */
export async function auditImports(dir: string, entry: string): Promise<AuditReport> {
  await lexerReady;
  const root = await Deno.realPath(dir);
  const ctx: Ctx = {
    root,
    problems: [],
    queue: [],
    seen: new Set(),
    report: { modules: [], computedImports: [] },
  };
  const entryPath = await realInside(ctx, `${root}/${entry}`, `entry ${JSON.stringify(entry)}`);
  if (entryPath) ctx.queue.push(entryPath);
  while (ctx.queue.length > 0) {
    const file = ctx.queue.shift()!;
    if (ctx.seen.has(file)) continue;
    ctx.seen.add(file);
    if (ctx.seen.size > MAX_AUDIT_FILES) {
      ctx.problems.push(`more than ${MAX_AUDIT_FILES} modules`);
      break;
    }
    ctx.report.modules.push(file);
    if (CODE_EXTS.has(extname(file))) await auditModule(ctx, file);
  }
  if (ctx.problems.length > 0) {
    const shown = ctx.problems.slice(0, MAX_PROBLEMS_LISTED);
    const more = ctx.problems.length - shown.length;
    throw new PluginError(
      "import_denied",
      `import audit failed:\n  ${shown.join("\n  ")}${more > 0 ? `\n  (${more} more)` : ""}`,
    );
  }
  return ctx.report;
}

async function auditModule(ctx: Ctx, file: string): Promise<void> {
  const rel = file.slice(ctx.root.length + 1) || file;
  const info = await Deno.stat(file);
  if (info.size > MAX_MODULE_BYTES) {
    ctx.problems.push(`${rel}: larger than ${MAX_MODULE_BYTES} bytes`);
    return;
  }
  let src: string;
  try {
    // Bounded whatever the size says (a device reports 0), and in time (a pipe with no writer).
    src = new TextDecoder().decode(await readBytesWithin(file, { limit: MAX_MODULE_BYTES }));
  } catch (err) {
    if (!(err instanceof FileTooLargeError) && !(err instanceof ReadTimeoutError)) throw err;
    ctx.problems.push(`${rel}: ${err.message}`);
    return;
  }
  let imports: ReturnType<typeof lex>[0];
  let exports: ReturnType<typeof lex>[1];
  try {
    [imports, exports] = lex(src, file);
  } catch (err) {
    // Fail closed: what the lexer cannot read, the audit cannot vouch for.
    // The lexer names the module by its full path; the author knows it by its place in the folder.
    const at = /:(\d+:\d+)$/.exec(errorMessage(err).split("\n")[0])?.[1];
    ctx.problems.push(
      `${rel}: syntax error${at ? ` (the lexer stopped at ${rel}:${at})` : ""}, so its imports ` +
        `cannot be checked; \`deno check ${rel}\` in the plugin folder names it`,
    );
    return;
  }
  if (file === ctx.report.modules[0]) {
    const star = imports.some((imp) => /^export\s*\*/.test(src.slice(imp.ss, imp.s)));
    ctx.report.entryExports = star ? undefined : exports.map((e) => e.n);
  }
  for (const imp of imports) {
    if (imp.d === -2) continue; // import.meta
    const dynamic = imp.d > -1;
    const spec = imp.n ?? (dynamic ? literalTemplate(src.slice(imp.s, imp.e)) : undefined);
    if (spec === undefined) {
      if (dynamic) ctx.report.computedImports.push(`${rel}:${imp.ss}`);
      else ctx.problems.push(`${rel}: unreadable import at offset ${imp.ss}`);
      continue;
    }
    const typeOnly = !dynamic && /^(import|export)\s+type\s/.test(src.slice(imp.ss, imp.s));
    await checkSpecifier(ctx, file, rel, spec, typeOnly);
  }
}

// `import(\`/etc/hostname\`)` is as literal as a quoted string.
function literalTemplate(raw: string): string | undefined {
  const m = /^\s*`([^`$\\]*)`\s*$/.exec(raw);
  return m ? m[1] : undefined;
}

async function checkSpecifier(
  ctx: Ctx,
  file: string,
  rel: string,
  spec: string,
  typeOnly: boolean,
): Promise<void> {
  const named = `${rel}: import ${JSON.stringify(spec)}`;
  if (spec.startsWith("node:")) {
    if (!NODE_BUILTIN_ALLOW_LIST.has(spec.slice(5))) {
      ctx.problems.push(
        `${named}: Node built-in not allowed (allowed: ${
          [...NODE_BUILTIN_ALLOW_LIST].map((n) => `node:${n}`).join(", ")
        })`,
      );
    }
    return;
  }
  if (!/^(\.{1,2}\/|\/|file:)/.test(spec)) {
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(spec)?.[1];
    ctx.problems.push(
      scheme
        ? `${named}: ${scheme}: imports are not allowed (only files inside the plugin folder)`
        : `${named}: bare specifiers are not allowed (only files inside the plugin folder)`,
    );
    return;
  }
  let target: string;
  try {
    target = fromFileUrl(new URL(spec, toFileUrl(file)));
  } catch {
    ctx.problems.push(`${named}: cannot be resolved`);
    return;
  }
  // The SDK is types only: `import type` is erased before load, so it never reads the file.
  if (basename(target) === SDK_FILE && !isInside(ctx.root, target)) {
    if (!typeOnly) ctx.problems.push(`${named}: import the SDK with \`import type\` (types only)`);
    return;
  }
  const real = await realInside(ctx, target, named);
  if (real) ctx.queue.push(real);
}

// Resolves symlinks, then requires the real path to be inside the plugin folder.
async function realInside(ctx: Ctx, path: string, named: string): Promise<string | undefined> {
  let real: string;
  try {
    real = await Deno.realPath(path);
  } catch {
    const outside = !isInside(ctx.root, path);
    ctx.problems.push(`${named}: ${outside ? "resolves outside the plugin folder" : "not found"}`);
    return undefined;
  }
  if (!isInside(ctx.root, real)) {
    ctx.problems.push(`${named}: resolves outside the plugin folder (to ${real})`);
    return undefined;
  }
  return real;
}
