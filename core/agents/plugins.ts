/**
 * The agent's plugin catalog: finds a plugin folder by id (installed under config/plugins first,
 * then the built-in folder), loads it through the plugin runtime (manifest + import audit),
 * refuses plugins that ask for more than `security.sandbox` allows, and keeps a bounded set of
 * warm runners keyed by plugin and config.
 * @module
 */
import { filePath } from "../config/mod.ts";
import type { Logger } from "../log/mod.ts";
import type {
  ExternalRunner,
  Grants,
  LoadedPlugin,
  PluginManifest,
  PluginRunner,
} from "../plugin/mod.ts";
import { VERSION } from "../version/mod.ts";
import { type AgentConfig, PLUGIN_ID } from "./config.ts";
import type { AgentLayout } from "./layout.ts";
import { type PluginRuntime, pluginRuntime } from "./plugin_runtime.ts";

/** The built-in plugins folder of this checkout (or binary). */
const BUILTIN_PLUGINS_DIR = filePath(new URL("../../plugins/", import.meta.url));

/** What `security.sandbox` allows plugins to be granted. */
interface SandboxPolicy {
  maxMemoryBytes: number;
  maxExecTimeMs: number;
  allowedPaths: string[];
  networkAccess: boolean;
}

/** Options for {@linkcode PluginCatalog}. */
interface PluginCatalogOptions {
  installedDir: string;
  builtinDir: string;
  /** Further plugin folders searched after the installed ones, before the built-ins. */
  searchDirs?: string[];
  sandbox: SandboxPolicy;
  poolSize: number;
  maxRunners: number;
  log: Logger;
  /** Where external-runtime plugins get their private work folders. */
  workRoot?: string;
  /** Who the agent is, for external plugins' get_agent_info. */
  agent?: { id: string; version: string; environment: string };
}

/** A warm runner of either runtime. */
export type AnyRunner = PluginRunner | ExternalRunner;

/**
 * The variables an agent reads its own settings from (its orchestrator key and relay token among
 * them), and its runtime's telemetry exporter from (`OTEL_EXPORTER_OTLP_HEADERS` may carry a
 * credential): a plugin declaring one would be handed the value from the agent's environment.
 */
const AGENT_SETTINGS_ENV = /^(IATP|STAVILY|OTEL)_/i;

/**
 * Why concrete grants exceed the sandbox policy, or undefined when they fit. Paths inside the
 * plugin's own folder are always allowed; others must sit under an allowed prefix.
 */
function grantsViolation(
  rt: PluginPaths,
  grants: Pick<Grants, "read" | "write" | "net" | "run" | "env">,
  pluginDir: string,
  policy: SandboxPolicy,
): string | undefined {
  const { isInside, resolve } = rt;
  if (grants.net.length > 0 && !policy.networkAccess) {
    return "asks for network access and security.sandbox.network_access is false";
  }
  if (grants.run.length > 0) return "asks to run programs, which agents never grant";
  const own = grants.env.find((name) => AGENT_SETTINGS_ENV.test(name));
  if (own !== undefined) {
    return `asks for env ${own}, one of the agent's own settings (IATP_*, STAVILY_*, OTEL_*: ` +
      "its credentials among them), which agents never grant";
  }
  for (const [kind, paths] of [["read", grants.read], ["write", grants.write]] as const) {
    for (const raw of paths) {
      const abs = resolve(pluginDir, raw);
      if (isInside(pluginDir, abs)) continue;
      if (!policy.allowedPaths.some((a) => isInside(a, abs))) {
        return `asks to ${kind} ${raw}, outside security.sandbox.allowed_paths`;
      }
    }
  }
  return undefined;
}

/**
 * Why a manifest exceeds the sandbox policy, judged on its literal permission entries and
 * limits (`${config.x}` entries are judged by {@linkcode grantsViolation} once config is known).
 */
function sandboxViolation(
  rt: PluginPaths,
  manifest: PluginManifest,
  pluginDir: string,
  policy: SandboxPolicy,
): string | undefined {
  const literal = (l: string[]) => l.filter((e) => !e.startsWith("${config."));
  const p = manifest.permissions;
  const why = grantsViolation(
    rt,
    {
      read: literal(p.read),
      write: literal(p.write),
      net: literal(p.net),
      run: literal(p.run),
      env: literal(p.env),
    },
    pluginDir,
    policy,
  );
  if (why) return why;
  if (manifest.limits.memory_mb * 1024 * 1024 > policy.maxMemoryBytes) {
    return `limits.memory_mb ${manifest.limits.memory_mb} exceeds security.sandbox.max_memory`;
  }
  return undefined;
}

/**
 * The plugin with `limits.timeout_ms` at most `security.sandbox.max_exec_time`: every call its
 * runner makes (a sensor's `detect()`, a host's start, an action) ends there at the latest,
 * whatever the manifest asks for.
 */
function capTimeout(plugin: LoadedPlugin, maxMs: number): LoadedPlugin {
  const limits = plugin.manifest.limits;
  if (limits.timeout_ms <= maxMs) return plugin;
  return {
    ...plugin,
    manifest: { ...plugin.manifest, limits: { ...limits, timeout_ms: Math.max(1, maxMs) } },
  };
}

/** The plugin runtime with `node:path`'s `resolve`, both loaded with the first plugin. */
type PluginPaths = PluginRuntime & { resolve: (...paths: string[]) => string };

async function pluginPaths(): Promise<PluginPaths> {
  const [rt, { resolve }] = await Promise.all([pluginRuntime(), import("node:path")]);
  return { ...rt, resolve };
}

interface RunnerEntry {
  key: string;
  pluginId: string;
  runner: AnyRunner;
}

/** Plugin lookup, validation and warm runners; see the module doc. */
export class PluginCatalog {
  // Map iteration order is insertion order: re-inserting on use makes the first entry the LRU.
  #runners = new Map<string, RunnerEntry>();
  /** Runners being made, by key: callers that arrive meanwhile share the one being made. */
  #making = new Map<string, Promise<AnyRunner>>();
  #closed = false;

  constructor(private readonly opts: PluginCatalogOptions) {}

  /** The folder of plugin `id`, installed first; undefined when neither location has it. */
  async find(id: string): Promise<string | undefined> {
    const { PluginError } = await pluginRuntime();
    const { join } = await import("node:path");
    if (!PLUGIN_ID.test(id)) {
      throw new PluginError("not_found", `invalid plugin id ${JSON.stringify(id)}`);
    }
    const roots = [this.opts.installedDir, ...this.opts.searchDirs ?? [], this.opts.builtinDir];
    for (const dir of roots.map((r) => join(r, id))) {
      try {
        if ((await Deno.stat(join(dir, "plugin.yaml"))).isFile) return dir;
      } catch { /* not here */ }
    }
    return undefined;
  }

  /** Loads and checks plugin `id` of `kind` (manifest, import audit, sandbox policy). */
  async load(id: string, kind: "trigger" | "action"): Promise<LoadedPlugin> {
    const { loadPlugin, PluginError } = await pluginRuntime();
    const dir = await this.find(id);
    if (!dir) throw new PluginError("not_found", `plugin ${id} is not installed`);
    return await this.check(await loadPlugin(dir), kind, id);
  }

  /** Checks a loaded plugin against the expected kind, id and the sandbox policy. */
  async check(
    plugin: LoadedPlugin,
    kind: PluginManifest["kind"] | undefined,
    id: string,
  ): Promise<LoadedPlugin> {
    const rt = await pluginPaths();
    const { PluginError } = rt;
    if (plugin.manifest.id !== id) {
      throw new PluginError(
        "invalid_manifest",
        `plugin.yaml id ${plugin.manifest.id} does not match ${id}`,
      );
    }
    if (kind && plugin.manifest.kind !== kind) {
      throw new PluginError(
        "invalid_manifest",
        `plugin ${id} is a ${plugin.manifest.kind} plugin, not ${kind}`,
      );
    }
    const why = sandboxViolation(rt, plugin.manifest, plugin.dir, this.opts.sandbox);
    if (why) throw new PluginError("denied", `plugin ${id} ${why}`);
    return plugin;
  }

  /** A warm runner for `id` with `config` (validated against the manifest first). */
  async runner(
    id: string,
    kind: "trigger" | "action",
    config: Record<string, unknown>,
  ): Promise<AnyRunner> {
    const { PluginError } = await pluginRuntime();
    // After close, no new plugin hosts may start: they would outlive the agent.
    if (this.#closed) throw new PluginError("crashed", "the agent is stopping");
    const key = `${id}\u0000${stableJson(config)}`;
    const hit = this.#runners.get(key);
    if (hit) {
      this.#runners.delete(key);
      this.#runners.set(key, hit);
      return hit.runner;
    }
    // Two instructions for a plugin not yet warm would otherwise each make a runner, and the
    // map would keep only the last: the others' hosts were left running, closed by nothing.
    const making = this.#making.get(key);
    if (making) return making;
    const made = this.#make(id, kind, config, key);
    this.#making.set(key, made);
    try {
      return await made;
    } finally {
      this.#making.delete(key);
    }
  }

  async #make(
    id: string,
    kind: "trigger" | "action",
    config: Record<string, unknown>,
    key: string,
  ): Promise<AnyRunner> {
    const { PluginError } = await pluginRuntime();
    const plugin = capTimeout(await this.load(id, kind), this.opts.sandbox.maxExecTimeMs);
    const rt = await pluginPaths();
    const { computeGrants, isExternal, PluginRunner, validatePluginConfig } = rt;
    if (this.#closed) throw new PluginError("crashed", "the agent is stopping");
    if (isExternal(plugin.manifest)) {
      return this.#keep(key, id, await this.#external(plugin, config));
    }
    const valid = validatePluginConfig(plugin.manifest, config);
    const why = grantsViolation(
      rt,
      computeGrants(plugin.dir, plugin.manifest, valid),
      plugin.dir,
      this.opts.sandbox,
    );
    if (why) throw new PluginError("denied", `plugin ${id} ${why}`);
    const runner = new PluginRunner(plugin, {
      config: valid,
      poolSize: this.opts.poolSize,
      log: this.opts.log.child({ plugin: id }),
    });
    return this.#keep(key, id, runner);
  }

  /**
   * An external-runtime plugin's runner, only where the bubblewrap sandbox works.
   * @throws {PluginError} ("denied") naming why the sandbox is unavailable.
   */
  async #external(plugin: LoadedPlugin, config: Record<string, unknown>): Promise<AnyRunner> {
    const { ExternalRunner, PluginError, sandboxUnavailable } = await pluginRuntime();
    const why = await sandboxUnavailable();
    if (why) throw new PluginError("denied", `plugin ${plugin.manifest.id}: ${why}`);
    if (!this.opts.workRoot) {
      throw new PluginError("denied", `plugin ${plugin.manifest.id}: no work folder for plugins`);
    }
    return new ExternalRunner(plugin, {
      config,
      workRoot: this.opts.workRoot,
      network: this.opts.sandbox.networkAccess,
      agent: this.opts.agent,
      log: this.opts.log.child({ plugin: plugin.manifest.id }),
    });
  }

  #keep(key: string, id: string, runner: AnyRunner): AnyRunner {
    this.#runners.set(key, { key, pluginId: id, runner });
    while (this.#runners.size > this.opts.maxRunners) {
      const [oldKey, old] = this.#runners.entries().next().value!;
      this.#runners.delete(oldKey);
      old.runner.close().catch(() => {});
    }
    return runner;
  }

  /** Closes and forgets one runner (restart after a failure: the next call makes a fresh one). */
  async discard(runner: AnyRunner): Promise<void> {
    for (const [k, e] of this.#runners) {
      if (e.runner === runner) this.#runners.delete(k);
    }
    await runner.close().catch(() => {});
  }

  /** Closes every runner of plugin `id` (after an update). */
  async invalidate(id: string): Promise<void> {
    const gone = [...this.#runners.values()].filter((e) => e.pluginId === id);
    for (const e of gone) this.#runners.delete(e.key);
    await Promise.allSettled(gone.map((e) => e.runner.close()));
  }

  /** Closes every runner. */
  async close(): Promise<void> {
    this.#closed = true;
    const all = [...this.#runners.values()];
    this.#runners.clear();
    await Promise.allSettled(all.map((e) => e.runner.close()));
  }
}

/** JSON with sorted keys, so equal configs share a runner. */
function stableJson(v: unknown): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v) ?? "null";
  if (Array.isArray(v)) return `[${v.map(stableJson).join(",")}]`;
  const o = v as Record<string, unknown>;
  return `{${
    Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`).join(",")
  }}`;
}

/** The plugin catalog both agents build from their config: installed plugins, then built-ins. */
export function catalogFromConfig(
  rt: { layout: AgentLayout; log: Logger; agentId: string },
  config: AgentConfig,
): PluginCatalog {
  const sb = config.security.sandbox;
  return new PluginCatalog({
    installedDir: rt.layout.configPlugins,
    // plugins.directory is one more place to look (Stavily files name folders that may not
    // exist on this machine); the built-in plugins are always found.
    builtinDir: BUILTIN_PLUGINS_DIR,
    searchDirs: config.plugins.directory ? [config.plugins.directory] : [],
    sandbox: {
      maxMemoryBytes: sb.max_memory,
      maxExecTimeMs: sb.max_exec_time,
      allowedPaths: sb.allowed_paths,
      networkAccess: sb.network_access,
    },
    poolSize: config.plugins.pool_size,
    maxRunners: config.plugins.max_runners,
    log: rt.log,
    workRoot: rt.layout.workdir,
    agent: { id: rt.agentId, version: VERSION, environment: config.agent.environment },
  });
}
