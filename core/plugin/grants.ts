/**
 * Least-privilege grants: turns a manifest's declared permissions (with `${config.x}` entries
 * expanded from the validated config) into the Worker's permission set and the `plugin-host`
 * child's Deno flags, and builds the child's command line for `deno run` and compiled modes.
 * @module
 */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { PluginError } from "./errors.ts";
import type { Limits, PluginManifest } from "./manifest.ts";
import type { WorkerPermissions } from "./protocol.ts";

/** Concrete grants after config expansion. */
export interface Grants {
  read: string[];
  write: string[];
  net: string[];
  env: string[];
  run: string[];
  sys: string[];
}

/**
 * Extra RSS the host process may use beyond `limits.memory_mb` (the Deno runtime, the host
 * isolate and the Worker's own baseline: about 45 MiB measured on Deno 2.9.6).
 */
export const HOST_RSS_OVERHEAD_MB = 96;

const CONFIG_REF = /^\$\{config\.([a-zA-Z_][a-zA-Z0-9_]*)\}$/;
const DEFAULT_PORTS: Record<string, string> = {
  "http:": "80",
  "https:": "443",
  "ws:": "80",
  "wss:": "443",
};

function expand(entry: string, config: Record<string, unknown>): string[] {
  const m = CONFIG_REF.exec(entry);
  if (!m) return [entry];
  const v = config[m[1]];
  const list = Array.isArray(v) ? v : v === undefined || v === null || v === "" ? [] : [v];
  return list.map((x) => {
    if (typeof x !== "string" || x.includes(",") || x.length === 0) {
      throw new PluginError(
        "invalid_config",
        `config.${m[1]}: expected non-empty strings without commas (it grants a permission)`,
      );
    }
    return x;
  });
}

/**
 * `https://api.example.com/x` -> `api.example.com:443`; `host:port` and `host` pass through.
 * @throws {PluginError} `invalid_config` when the grant is not a URL or host:port, or names an unsupported scheme
 */
export function netGrant(value: string): string {
  if (value.includes("://")) {
    let u: URL;
    try {
      u = new URL(value);
    } catch {
      throw new PluginError("invalid_config", `net grant ${JSON.stringify(value)}: not a URL`);
    }
    const port = u.port || DEFAULT_PORTS[u.protocol];
    if (!port) {
      throw new PluginError("invalid_config", `net grant ${value}: unsupported ${u.protocol}`);
    }
    return `${u.hostname}:${port}`;
  }
  if (!/^[A-Za-z0-9.\-\[\]:]+$/.test(value)) {
    throw new PluginError("invalid_config", `net grant ${JSON.stringify(value)}: not host:port`);
  }
  return value;
}

/** Expands the manifest's permissions against `config`. Paths resolve against the plugin dir. */
export function computeGrants(
  dir: string,
  manifest: PluginManifest,
  config: Record<string, unknown>,
): Grants {
  const p = manifest.permissions;
  const all = (list: string[], f = (x: string) => x) => [
    ...new Set(list.flatMap((e) => expand(e, config)).map(f)),
  ];
  return {
    read: all(p.read, (x) => resolve(dir, x)),
    write: all(p.write, (x) => resolve(dir, x)),
    net: all(p.net, netGrant),
    env: all(p.env),
    run: all(p.run),
    sys: [...p.sys],
  };
}

/** The Worker's permissions: the grants, plus read of its own folder (to load its modules). */
export function workerPermissions(dir: string, g: Grants): WorkerPermissions {
  const list = (l: string[]) => l.length > 0 ? l : false as const;
  return {
    read: [dir, ...g.read],
    write: list(g.write),
    net: list(g.net),
    env: list(g.env),
    run: list(g.run),
    ffi: false,
    sys: list(g.sys),
    import: false,
  };
}

/** True when running as a `deno compile` binary. */
function isCompiled(): boolean {
  return Deno.build.standalone === true;
}

/** How to start one plugin-host child. */
export interface HostCommand {
  cmd: string;
  args: string[];
  env: Record<string, string>;
  /**
   * Working folder of the child: the plugin's own folder, so `Deno.cwd()` (which Deno gives a
   * plugin without any permission) names nothing of the agent's, and a relative path in the
   * plugin's code means the same file as a relative path in its manifest's permissions.
   */
  cwd: string;
  compiled: boolean;
}

/**
 * The child command line. `deno run` mode: the same Deno, least-privilege flags, a V8 heap cap,
 * no config/npm/remote modules, running the host's generated JavaScript (js/host_main.js, nothing
 * to transpile: the host has no module cache) directly. Compiled mode: the binary itself
 * (`iatp plugin-host`); permission flags cannot be narrowed there, so only the Worker's
 * permissions, the import audit and the RSS watchdog apply (DENO_V8_FLAGS is set, but a compiled
 * runtime does not read it).
 */
export function hostCommand(
  dir: string,
  g: Grants,
  limits: Limits,
  baseEnv: Record<string, string>,
) {
  const v8 = `--max-old-space-size=${limits.memory_mb}`;
  if (isCompiled()) {
    return {
      cmd: Deno.execPath(),
      args: ["plugin-host"],
      env: { ...baseEnv, DENO_V8_FLAGS: v8 },
      cwd: dir,
      compiled: true,
    } satisfies HostCommand;
  }
  const workerEntry = fileURLToPath(new URL("./js/worker_entry.js", import.meta.url));
  const hostEntry = fileURLToPath(new URL("./js/host_main.js", import.meta.url));
  const flag = (name: string, l: string[]) =>
    l.length > 0 ? [`--allow-${name}=${l.join(",")}`] : [];
  const args = [
    "run",
    "--quiet",
    "--no-prompt",
    "--no-config",
    "--no-lock",
    "--no-npm",
    "--no-remote",
    "--unstable-worker-options",
    `--v8-flags=${v8}`,
    `--allow-read=${[dir, workerEntry, ...g.read].join(",")}`,
    ...flag("write", g.write),
    ...flag("net", g.net),
    ...flag("env", g.env),
    ...flag("run", g.run),
    ...flag("sys", g.sys),
    hostEntry,
  ];
  return {
    cmd: Deno.execPath(),
    args,
    env: baseEnv,
    cwd: dir,
    compiled: false,
  } satisfies HostCommand;
}
