/**
 * Loading a plugin folder: manifest, config declarations, entry module and import audit. Nothing
 * of the plugin runs here.
 * @module
 */
import { extname, isAbsolute, join, resolve } from "node:path";
import { auditImports, type AuditReport } from "./audit.ts";
import { validateField } from "./config.ts";
import { failure, PluginError, type PluginResult } from "./errors.ts";
import { isExternal, MAX_MANIFEST_BYTES, parseManifest, type PluginManifest } from "./manifest.ts";
import { FileTooLargeError, readBytesWithin } from "../config/mod.ts";
import { isInside } from "./paths.ts";
import { SYSTEM_DIRS } from "./external/sandbox.ts";
import { errorMessage } from "../errors/mod.ts";

/** A plugin folder that passed every load-time check (contract 3). */
export interface LoadedPlugin {
  /** Real (symlink-resolved) absolute path of the folder. */
  dir: string;
  manifest: PluginManifest;
  /** What the import audit visited. */
  audit: AuditReport;
}

const ENTRY_EXTS = new Set([".ts", ".js", ".mjs", ".mts"]);
/** The function each kind of plugin is called through. */
const ENTRY_FUNCTION = { trigger: "detect", action: "execute", output: "send" } as const;

/**
 * Loads and checks a plugin folder: plugin.yaml schema, config field declarations (defaults
 * must satisfy their own constraints), entry module, import audit. Throws PluginError naming the
 * problem (codes not_found, invalid_manifest, import_denied, link_outside); an entry that
 * plainly does not export its kind's function (`detect`, `execute`, `send`) is `invalid_manifest`.
 * @throws {PluginError} `not_found`, `invalid_manifest`, `import_denied` or `link_outside`
 */
export async function loadPlugin(dir: string): Promise<LoadedPlugin> {
  let real: string;
  try {
    real = await Deno.realPath(dir);
    if (!(await Deno.stat(real)).isDirectory) throw new Error("not a directory");
  } catch (err) {
    throw new PluginError("not_found", `plugin folder ${dir}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  const manifestPath = `${real}/plugin.yaml`;
  let text: string;
  try {
    const info = await Deno.stat(manifestPath);
    if (info.size > MAX_MANIFEST_BYTES) {
      throw new PluginError(
        "invalid_manifest",
        `${manifestPath}: larger than ${MAX_MANIFEST_BYTES} bytes`,
      );
    }
    // Bounded whatever the size says (a device reports 0), and in time (a pipe with no writer).
    const bytes = await readBytesWithin(manifestPath, { limit: MAX_MANIFEST_BYTES });
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      throw new PluginError("invalid_manifest", `${manifestPath}: not valid UTF-8`);
    }
  } catch (err) {
    if (err instanceof PluginError) throw err;
    if (err instanceof Deno.errors.NotFound) {
      throw new PluginError(
        "not_found",
        `${manifestPath}: no such file (a plugin folder holds its manifest, plugin.yaml)`,
        { cause: err },
      );
    }
    if (err instanceof FileTooLargeError) {
      throw new PluginError("invalid_manifest", `${manifestPath}: ${err.message}`, { cause: err });
    }
    throw new PluginError("not_found", `${manifestPath}: ${errorMessage(err).split("\n")[0]}`, {
      cause: err,
    });
  }
  const manifest = parseManifest(text, manifestPath);
  for (const [name, f] of Object.entries(manifest.config)) {
    if (f.default === undefined) continue;
    try {
      validateField(name, f, f.default);
    } catch (err) {
      throw new PluginError(
        "invalid_manifest",
        `${manifestPath}: default of ${errorMessage(err)}`,
        { cause: err },
      );
    }
  }
  if (isExternal(manifest)) {
    const audit = await externalEntry(real, manifest);
    await checkPluginLinks({ dir: real, manifest });
    checkCodeWrites({ dir: real, manifest, audit }, literalWrites(real, manifest));
    return { dir: real, manifest, audit };
  }
  if (isAbsolute(manifest.entry) || !ENTRY_EXTS.has(extname(manifest.entry))) {
    throw new PluginError(
      "invalid_manifest",
      `${manifestPath}: entry: expected a relative .ts/.js/.mjs/.mts path, found ${
        JSON.stringify(manifest.entry)
      }`,
    );
  }
  const audit = await auditImports(real, manifest.entry);
  const fn = ENTRY_FUNCTION[manifest.kind];
  if (audit.entryExports && !audit.entryExports.includes(fn)) {
    const has = audit.entryExports.length > 0 ? audit.entryExports.join(", ") : "nothing";
    throw new PluginError(
      "invalid_manifest",
      `${manifest.entry}: ${
        manifest.kind === "trigger" ? "a" : "an"
      } ${manifest.kind} plugin's entry must export ${fn}() ` +
        `(it exports ${has}); or change kind in ${manifestPath}`,
    );
  }
  // After the audit, which names an import through such a link more precisely.
  await checkPluginLinks({ dir: real, manifest });
  checkCodeWrites({ dir: real, manifest, audit }, literalWrites(real, manifest));
  return { dir: real, manifest, audit };
}

/** The manifest's literal `write` entries, resolved against the folder (`${config.x}` left out). */
function literalWrites(dir: string, manifest: PluginManifest): string[] {
  return manifest.permissions.write.filter((e) => !e.startsWith("${config.")).map((e) =>
    resolve(dir, e)
  );
}

/**
 * A plugin may write its own folder's data, never its code: a write grant that is the folder,
 * holds it, or holds its manifest, its signature or a module it loads would let the plugin
 * rewrite what the agent loads next, a manifest granting more than the one that was signed and
 * checked against the sandbox policy among it. `write` holds absolute paths; one that exists is
 * judged where its links lead, as Deno writes through them.
 * @throws {PluginError} `denied` naming the grant and the file it would reach
 */
export function checkCodeWrites(plugin: LoadedPlugin, write: readonly string[]): void {
  const code = [
    join(plugin.dir, "plugin.yaml"),
    join(plugin.dir, "plugin.sig"), // signing.ts's SIGNATURE_FILE (not imported: it brings auth)
    ...plugin.audit.modules,
  ];
  for (const grant of write) {
    let real = resolve(grant);
    try {
      real = Deno.realPathSync(real);
    } catch { /* not there yet: judged as written */ }
    const hit = isInside(real, plugin.dir) ? plugin.dir : code.find((f) => isInside(real, f));
    if (hit !== undefined) {
      throw new PluginError(
        "denied",
        `permissions.write ${grant} would let the plugin rewrite its own ${
          hit === plugin.dir ? "folder" : hit.slice(plugin.dir.length + 1)
        }: a plugin may write a folder of its own data (write: [data]), not its code or manifest`,
      );
    }
  }
}

/**
 * The load-time link check, again: run before each process of the plugin starts from its folder
 * (a host's cold start, its replacement after a failure or `maxCallsPerHost` calls, each
 * one-shot process of an external plugin), so a link added to the folder after it was loaded is
 * refused before the plugin runs again. Bounded as at load ({@linkcode MAX_FOLDER_ENTRIES}).
 * @throws {PluginError} `link_outside` naming the link
 */
export async function checkPluginLinks(
  plugin: Pick<LoadedPlugin, "dir" | "manifest">,
): Promise<void> {
  // An external plugin's sandbox mounts the system folders read-only, so a link into them (a
  // virtualenv's `bin/python -> /usr/bin/python3`) reaches nothing the plugin cannot read anyway.
  await checkLinks(plugin.dir, isExternal(plugin.manifest) ? SYSTEM_DIRS : []);
}

/**
 * {@linkcode checkPluginLinks} as a call's result: undefined when the links are fine, else a
 * `denied` failure naming the link (`link_outside: ...`), or `crashed` when the folder cannot be
 * walked (removed since it was loaded).
 */
export async function linksProblem(
  plugin: Pick<LoadedPlugin, "dir" | "manifest">,
): Promise<PluginResult<never> | undefined> {
  try {
    await checkPluginLinks(plugin);
    return undefined;
  } catch (err) {
    if (err instanceof PluginError) return failure("denied", `${err.code}: ${err.message}`);
    return failure(
      "crashed",
      `cannot start plugin: plugin folder ${plugin.dir}: ${errorMessage(err).split("\n")[0]}`,
    );
  }
}

/** Most entries {@linkcode checkLinks} walks in one plugin folder. */
const MAX_FOLDER_ENTRIES = 10_000;

/**
 * Every symlink in the plugin folder must lead inside it (or inside `alsoInside`, folders the
 * plugin's sandbox gives it read-only anyway). The plugin may read its own folder (its
 * modules load from there), and Deno checks the path asked for, not where a link in it leads: a
 * link to /etc would hand the plugin /etc past `security.sandbox.allowed_paths`, and a declared
 * `write: [data]` with `data` a link would write wherever it points.
 * @throws {PluginError} `link_outside` naming the first link that leads out or nowhere, or a
 * folder of more than {@linkcode MAX_FOLDER_ENTRIES} entries
 */
async function checkLinks(root: string, alsoInside: readonly string[] = []): Promise<void> {
  const dirs = [root];
  let seen = 0;
  for (let dir = dirs.pop(); dir !== undefined; dir = dirs.pop()) {
    for await (const entry of Deno.readDir(dir)) {
      if (++seen > MAX_FOLDER_ENTRIES) {
        throw new PluginError(
          "link_outside",
          `plugin folder ${root}: more than ${MAX_FOLDER_ENTRIES} entries to check for links`,
        );
      }
      const path = join(dir, entry.name);
      if (entry.isDirectory) dirs.push(path);
      if (!entry.isSymlink) continue;
      const rel = path.slice(root.length + 1);
      let target: string;
      try {
        target = await Deno.realPath(path);
      } catch (err) {
        throw new PluginError(
          "link_outside",
          `plugin folder ${root}: ${rel} is a symlink that cannot be resolved (${
            errorMessage(err).split("\n")[0]
          }); links must stay inside the plugin folder`,
        );
      }
      if (!isInside(root, target) && !alsoInside.some((d) => isInside(d, target))) {
        throw new PluginError(
          "link_outside",
          `plugin folder ${root}: ${rel} is a symlink to ${target}, outside the folder (the ` +
            "plugin could read through it past the sandbox)",
        );
      }
    }
  }
}

const EXTERNAL_EXTS: Record<string, string> = { python: ".py" };

/**
 * An external plugin's entry must be a file of its runtime inside the folder (no import audit:
 * the sandbox, not the loader, confines it).
 * @throws {PluginError} naming the entry when it is outside the folder or missing.
 */
async function externalEntry(dir: string, m: PluginManifest): Promise<AuditReport> {
  const where = `${dir}/plugin.yaml`;
  const ext = EXTERNAL_EXTS[m.runtime?.type ?? ""] ?? "";
  if (isAbsolute(m.entry) || m.entry.split("/").includes("..") || extname(m.entry) !== ext) {
    throw new PluginError(
      "invalid_manifest",
      `${where}: entry: expected a relative ${ext} path inside the folder, found ${
        JSON.stringify(m.entry)
      }`,
    );
  }
  try {
    if (!(await Deno.stat(`${dir}/${m.entry}`)).isFile) throw new Error("not a file");
  } catch (err) {
    const why = err instanceof Deno.errors.NotFound
      ? "no such file in the plugin folder"
      : errorMessage(err);
    throw new PluginError("not_found", `${where}: entry ${m.entry}: ${why}`, { cause: err });
  }
  return { modules: [`${dir}/${m.entry}`], computedImports: [] };
}
