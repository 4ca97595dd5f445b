/**
 * Stavily plugin manifests (06-Plugins and 01-Agents examples nest everything under `plugin:`;
 * Machine-Data-Extractor is flat with `type: monitor`) mapped onto iatp's manifest: `type` ->
 * `kind` (monitor -> trigger), `runtime.entry_point` -> `entry` with an external runtime,
 * `configuration` -> `config`, `limits.memory` / `execution_time` -> `memory_mb` /
 * `timeout_ms`, `permissions.network` / `filesystem` -> `net` / `read` / `write`. Keys iatp does
 * not use (cpu, system_calls, capabilities, license, tags, categories, security) are dropped.
 * @module
 */
import { MAX_TIMEOUT_MS } from "./manifest.ts";

type Raw = Record<string, unknown>;

function obj(v: unknown): Raw | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? v as Raw : undefined;
}

/** True when a parsed plugin.yaml is in the Stavily dialect. */
export function isUpstreamManifest(raw: Raw): boolean {
  if (obj(raw.plugin)) return true;
  const runtime = obj(raw.runtime);
  return typeof raw.type === "string" && runtime !== undefined && "entry_point" in runtime;
}

/** `"64MB"`, `"1GB"`, `"512KB"` or a number of MiB, as MiB (at least 32). */
export function memoryMb(v: unknown): number | undefined {
  if (typeof v === "number") return Math.max(32, Math.ceil(v));
  if (typeof v !== "string") return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(KB|MB|GB|K|M|G|KiB|MiB|GiB)?\s*$/i.exec(v);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = (m[2] ?? "MB").toUpperCase()[0];
  const mb = unit === "K" ? n / 1024 : unit === "G" ? n * 1024 : n;
  return Math.max(32, Math.ceil(mb));
}

/** `"120s"`, `"5m"`, `"500ms"`, `"unlimited"` as ms (unlimited: the largest accepted). */
function executionMs(v: unknown): number | undefined {
  if (v === "unlimited") return MAX_TIMEOUT_MS;
  if (typeof v === "number") return Math.min(MAX_TIMEOUT_MS, Math.round(v * 1000));
  if (typeof v !== "string") return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(v);
  if (!m) return undefined;
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? "s"] ?? 1000;
  return Math.min(MAX_TIMEOUT_MS, Math.round(Number(m[1]) * mult));
}

function configField(f: Raw): Raw {
  const out: Raw = {};
  for (const k of ["type", "description", "default", "minimum", "maximum", "enum", "required"]) {
    if (f[k] !== undefined) out[k] = f[k];
  }
  const items = obj(f.items);
  if (items && typeof items.type === "string") out.items = items.type;
  if (f.sensitive === true || f.secret === true) out.secret = true;
  return out;
}

/** Maps a Stavily manifest onto iatp's manifest shape (validated afterwards by the schema). */
export function fromUpstreamManifest(raw: Raw): Raw {
  const flat = obj(raw.plugin) ?? raw;
  const runtime = obj(flat.runtime) ?? {};
  const limits = obj(flat.limits) ?? {};
  const perms = obj(flat.permissions) ?? {};
  const fs = obj(perms.filesystem) ?? {};
  const type = String(flat.type ?? "");
  const config: Raw = {};
  for (const [name, f] of Object.entries(obj(flat.configuration) ?? {})) {
    const field = obj(f);
    if (field) config[name] = configField(field);
  }
  const out: Raw = {
    id: flat.id,
    name: flat.name,
    version: flat.version,
    description: flat.description ?? "",
    ...(typeof flat.author === "string" ? { author: flat.author } : {}),
    kind: type === "monitor" ? "trigger" : type,
    entry: runtime.entry_point,
    runtime: {
      type: runtime.type,
      ...(typeof runtime.version === "string" ? { version: runtime.version } : {}),
      // 06-Plugins speak line JSON on stdin; Machine-Data-Extractor (flat, monitor) takes
      // argv flags and calls the agent's JSON-RPC socket.
      protocol: typeof runtime.protocol === "string"
        ? runtime.protocol
        : obj(raw.plugin)
        ? "lines"
        : "rpc",
      ...(typeof runtime.requirements === "string" ? { requirements: runtime.requirements } : {}),
    },
    config,
    permissions: {
      read: Array.isArray(fs.read) ? fs.read : [],
      write: Array.isArray(fs.write) ? fs.write : [],
      net: perms.network === true ? ["*"] : [],
      env: [],
      run: [],
      sys: [],
    },
    limits: {
      ...(memoryMb(limits.memory) !== undefined ? { memory_mb: memoryMb(limits.memory) } : {}),
      ...(executionMs(limits.execution_time) !== undefined
        ? { timeout_ms: executionMs(limits.execution_time) }
        : {}),
    },
  };
  return out;
}
