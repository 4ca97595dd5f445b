/**
 * `plugin_install` / `plugin_update`: fetch a plugin from a local folder or a git URL into a
 * private staging folder, copy it without symlinks and within size bounds, check that it may be
 * trusted (signed by a trusted key, verified on that staging copy, or from an allowed source),
 * validate it (manifest, import audit, id, sandbox policy) and only then move it into
 * config/plugins/<id>. A plugin that fails any check never reaches the folder plugins are run
 * from.
 * @module
 */
import { isAbsolute, join, normalize, resolve } from "node:path";
import type { LoadedPlugin } from "../plugin/mod.ts";
import { isInside, loadPlugin } from "../plugin/mod.ts";
import { PLUGIN_ID } from "./config.ts";
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from "./layout.ts";
import type { PluginCatalog } from "./plugins.ts";
import {
  checkSourceBeforeFetch,
  GIT_URL,
  type PluginTrustPolicy,
  trustPlugin,
} from "./plugin_trust.ts";
import { delayOf, readUntilExit, sleep } from "../async/mod.ts";
import { errorMessage } from "../errors/mod.ts";

/** Most files one plugin may contain. */
const MAX_INSTALL_FILES = 1_000;
/** The tail of git's stderr kept for a failure's message. */
const MAX_GIT_STDERR_CHARS = 16 * 1024;

/** Why an install failed: the error type reported with the result. */
export class InstallError extends Error {
  override name = "InstallError";
  constructor(
    readonly type: "invalid_request" | "source" | "invalid_plugin" | "conflict",
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Where to get the plugin from (the instruction's `plugin_configuration`). */
export interface InstallSource {
  /** A git URL or an absolute local folder. */
  url: string;
  /** Git branch or tag. */
  ref?: string;
  /** Folder inside the source holding plugin.yaml. */
  subdir?: string;
}

/** Everything an install needs. */
export interface InstallContext {
  installedDir: string;
  workdir: string;
  maxBytes: number;
  timeoutMs: number;
  catalog: PluginCatalog;
  /** Which plugins may be installed (plugins.trusted_keys, plugins.allowed_sources). */
  trust: PluginTrustPolicy;
  log: (msg: string) => void;
}

/**
 * Reads and checks the source fields of an instruction's plugin_configuration.
 * @throws {InstallError} `invalid_request` when the URL, ref or subdir is missing or malformed
 */
export function installSource(conf: Record<string, unknown>): InstallSource {
  const url = conf.plugin_url ?? conf.source;
  if (typeof url !== "string" || url.trim() === "" || url.length > 2048) {
    throw new InstallError(
      "invalid_request",
      "plugin_configuration.plugin_url must be a git URL or an absolute path",
    );
  }
  const ref = conf.ref ?? conf.version;
  if (
    ref !== undefined &&
    (typeof ref !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$/.test(ref))
  ) {
    throw new InstallError(
      "invalid_request",
      "plugin_configuration.ref must be a branch or tag name",
    );
  }
  const subdir = conf.subdir;
  if (subdir !== undefined) {
    if (
      typeof subdir !== "string" || isAbsolute(subdir) ||
      normalize(subdir).split(/[\\/]/).includes("..")
    ) {
      throw new InstallError(
        "invalid_request",
        "plugin_configuration.subdir must be a relative path inside the source",
      );
    }
  }
  return {
    url: url.trim(),
    ref: typeof ref === "string" ? ref : undefined,
    subdir: typeof subdir === "string" ? subdir : undefined,
  };
}

/** How often a running clone's size is measured. */
const CLONE_CHECK_MS = 100;

/**
 * Bytes the files under `dir` take (symlinks not followed), or Infinity once the count of
 * entries passes `maxEntries` (a clone of countless tiny files is stopped as a large one is).
 */
async function treeBytes(dir: string, maxEntries: number): Promise<number> {
  let bytes = 0;
  let entries = 0;
  const dirs = [dir];
  for (let d = dirs.pop(); d !== undefined; d = dirs.pop()) {
    try {
      for await (const entry of Deno.readDir(d)) {
        if (++entries > maxEntries) return Infinity;
        const path = join(d, entry.name);
        if (entry.isDirectory) dirs.push(path);
        else if (entry.isFile) bytes += (await Deno.lstat(path).catch(() => ({ size: 0 }))).size;
      }
    } catch { /* not there yet, or gone: git creates and renames as it goes */ }
  }
  return bytes;
}

/**
 * `git clone --depth 1` into `dest`, stopped (SIGKILL) at the timeout, or once the clone takes
 * more than `maxBytes` on disk: a clone holds the files and their packed history, so twice
 * `plugins.install_max_bytes` (and 4 times the file bound in entries) is more than any plugin
 * that could be installed needs.
 */
async function gitClone(
  src: InstallSource,
  dest: string,
  timeoutMs: number,
  maxBytes: number,
): Promise<void> {
  const args = ["-c", "protocol.ext.allow=never", "clone", "--quiet", "--depth", "1"];
  if (src.ref) args.push("--branch", src.ref);
  args.push("--", src.url, dest);
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("git", {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      env: { GIT_TERMINAL_PROMPT: "0", GIT_ASKPASS: "true" },
    }).spawn();
  } catch (err) {
    throw new InstallError("source", `cannot run git: ${errorMessage(err)}`, { cause: err });
  }
  const kill = () => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  };
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    kill();
  }, delayOf(timeoutMs));
  const bound = 2 * maxBytes;
  const maxEntries = 4 * MAX_INSTALL_FILES;
  let over = false;
  // git's helpers (git-remote-https, index-pack) outlive a git killed at the deadline, holding
  // its stderr open while a server keeps them waiting: its end is not waited for past the exit.
  const output = readUntilExit(child, [child.stderr], MAX_GIT_STDERR_CHARS);
  const watch = (async () => {
    const done = output.then(() => true, () => true);
    while (!(await Promise.race([done, sleep(CLONE_CHECK_MS).then(() => false)]))) {
      if (await treeBytes(dest, maxEntries) > bound) {
        over = true;
        return kill();
      }
    }
  })();
  const { status: out, texts: [stderr] } = await output;
  clearTimeout(timer);
  await watch;
  // A clone that ended between two measures is measured once more.
  if (over || (out.success && await treeBytes(dest, maxEntries) > bound)) {
    throw new InstallError(
      "invalid_plugin",
      `git clone stopped: it took more than ${bound} bytes or ${maxEntries} entries on disk ` +
        `(twice plugins.install_max_bytes, ${maxBytes})`,
    );
  }
  if (timedOut && !out.success) {
    throw new InstallError(
      "source",
      `git clone stopped: it did not end within the task's timeout (${timeoutMs} ms)`,
    );
  }
  if (!out.success) {
    const msg = stderr.trim().split("\n").slice(-2).join(" ");
    throw new InstallError("source", `git clone failed (exit ${out.code}): ${msg.slice(0, 300)}`);
  }
}

/** Copies a folder tree, refusing symlinks and enforcing file-count and byte bounds. */
async function copyTree(
  from: string,
  to: string,
  budget: { files: number; bytes: number; maxBytes: number },
): Promise<void> {
  await Deno.mkdir(to, { mode: PRIVATE_DIR_MODE });
  for await (const entry of Deno.readDir(from)) {
    if (entry.name === ".git") continue;
    const src = join(from, entry.name);
    const dst = join(to, entry.name);
    const info = await Deno.lstat(src);
    if (info.isSymlink) {
      throw new InstallError("invalid_plugin", `symlinks are not allowed: ${entry.name}`);
    }
    if (info.isDirectory) {
      await copyTree(src, dst, budget);
      continue;
    }
    if (!info.isFile) throw new InstallError("invalid_plugin", `not a regular file: ${entry.name}`);
    budget.files++;
    budget.bytes += info.size;
    if (budget.files > MAX_INSTALL_FILES) {
      throw new InstallError("invalid_plugin", `more than ${MAX_INSTALL_FILES} files`);
    }
    if (budget.bytes > budget.maxBytes) {
      throw new InstallError(
        "invalid_plugin",
        `larger than plugins.install_max_bytes (${budget.maxBytes})`,
      );
    }
    await Deno.copyFile(src, dst);
    await Deno.chmod(dst, PRIVATE_FILE_MODE);
  }
}

async function fetchSource(
  src: InstallSource,
  staging: string,
  ctx: InstallContext,
): Promise<string> {
  if (GIT_URL.test(src.url)) {
    ctx.log(`cloning ${src.url}${src.ref ? ` (${src.ref})` : ""}`);
    const dest = join(staging, "src");
    await gitClone(src, dest, ctx.timeoutMs, ctx.maxBytes);
    return dest;
  }
  if (!isAbsolute(src.url)) {
    throw new InstallError(
      "invalid_request",
      "plugin_url is neither a git URL nor an absolute path",
    );
  }
  ctx.log(`copying from ${src.url}`);
  try {
    if (!(await Deno.stat(src.url)).isDirectory) throw new Error("not a folder");
  } catch (err) {
    throw new InstallError("source", `cannot read ${src.url}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  return src.url;
}

/**
 * The source's `subdir` folder, which must stay inside the source once symlinks are followed (a
 * source may hold a link pointing anywhere on this host).
 * @throws {InstallError} `source` when it does not exist, `invalid_request` when it leads out
 */
async function subdirOf(fetched: string, subdir: string): Promise<string> {
  let real: string;
  let base: string;
  try {
    base = await Deno.realPath(fetched);
    real = await Deno.realPath(join(fetched, subdir));
  } catch (err) {
    throw new InstallError("source", `cannot read subdir ${subdir}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  if (!isInside(base, real)) {
    throw new InstallError(
      "invalid_request",
      "plugin_configuration.subdir leads out of the source (through a symlink)",
    );
  }
  return real;
}

/**
 * Installs (or updates) plugin `id` from `src`; returns the validated plugin in its final place.
 * `mode` "install" refuses an id already installed; "update" refuses one that is not.
 * @throws {InstallError} `invalid_request` for a bad plugin id, `source` when the source cannot
 * be fetched, `invalid_plugin` when it does not load or verify, `conflict` when the plugin is
 * already installed (install) or is not (update)
 */
export async function installPlugin(
  id: string,
  src: InstallSource,
  mode: "install" | "update",
  ctx: InstallContext,
): Promise<LoadedPlugin> {
  if (!PLUGIN_ID.test(id)) {
    throw new InstallError("invalid_request", `invalid plugin id ${JSON.stringify(id)}`);
  }
  const target = join(ctx.installedDir, id);
  if (resolve(target) !== join(resolve(ctx.installedDir), id)) {
    throw new InstallError("invalid_request", "plugin id escapes the plugins folder");
  }
  const exists = await Deno.stat(target).then(() => true, () => false);
  if (mode === "install" && exists) {
    throw new InstallError("conflict", `plugin ${id} is already installed`);
  }
  if (mode === "update" && !exists) {
    throw new InstallError("conflict", `plugin ${id} is not installed`);
  }
  checkSourceBeforeFetch(src.url, ctx.trust);
  const staging = await Deno.makeTempDir({ dir: ctx.workdir, prefix: `install-${id}-` });
  try {
    const fetched = await fetchSource(src, staging, ctx);
    const root = src.subdir ? await subdirOf(fetched, src.subdir) : fetched;
    const copy = join(staging, "plugin");
    const budget = { files: 0, bytes: 0, maxBytes: ctx.maxBytes };
    await copyTree(root, copy, budget);
    ctx.log(`copied ${budget.files} files (${budget.bytes} bytes); checking trust`);
    // The copy is what gets installed: verifying it (not the source) leaves no window in which
    // a source changed after verification could slip through.
    const grant = await trustPlugin(copy, src.url, ctx.trust, {
      maxFiles: MAX_INSTALL_FILES,
      maxBytes: ctx.maxBytes,
    });
    ctx.log(
      grant.by === "source"
        ? "trusted: the source is in plugins.allowed_sources; validating"
        : `trusted: signed by key ${grant.keyId} (${grant.digest}); validating`,
    );
    try {
      await ctx.catalog.check(await loadPlugin(copy), undefined, id);
    } catch (err) {
      throw new InstallError("invalid_plugin", errorMessage(err), { cause: err });
    }
    if (exists) await Deno.rename(target, join(staging, "previous"));
    await Deno.rename(copy, target);
    await ctx.catalog.invalidate(id);
    const plugin = await loadPlugin(target);
    ctx.log(`installed ${id} ${plugin.manifest.version} (${plugin.manifest.kind})`);
    return plugin;
  } finally {
    await Deno.remove(staging, { recursive: true }).catch(() => {});
  }
}
