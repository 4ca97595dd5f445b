/**
 * Plugin config validation against the manifest's field list: defaults applied, unknown keys
 * rejected, every error naming the field, what was expected and what was found.
 * @module
 */
import { isSensitiveKey } from "../log/mod.ts";
import { PluginError } from "./errors.ts";
import type { ConfigField, PluginManifest } from "./manifest.ts";

function found(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  const s = typeof v === "string" ? JSON.stringify(v) : String(v);
  return `${typeof v} ${s.length > 60 ? s.slice(0, 60) + "..." : s}`;
}

function bad(name: string, expected: string, value: unknown): PluginError {
  return new PluginError(
    "invalid_config",
    `config.${name}: expected ${expected}, found ${found(value)}`,
  );
}

function checkScalar(name: string, type: string, v: unknown): void {
  const ok = type === "string"
    ? typeof v === "string"
    : type === "boolean"
    ? typeof v === "boolean"
    : type === "integer"
    ? Number.isInteger(v)
    : typeof v === "number" && Number.isFinite(v);
  if (!ok) throw bad(name, `a${type === "integer" ? "n" : ""} ${type}`, v);
}

/** Validates one value against its field declaration; throws PluginError("invalid_config"). */
export function validateField(name: string, f: ConfigField, v: unknown): void {
  if (f.type === "array") {
    if (!Array.isArray(v)) throw bad(name, "an array", v);
    if (f.max_items !== undefined && v.length > f.max_items) {
      throw bad(name, `at most ${f.max_items} items`, `${v.length} items`);
    }
    v.forEach((item, i) => {
      if (f.items) checkScalar(`${name}[${i}]`, f.items, item);
      checkConstraints(`${name}[${i}]`, f, item);
    });
    return;
  }
  if (f.type === "object") {
    if (v === null || typeof v !== "object" || Array.isArray(v)) throw bad(name, "an object", v);
    return;
  }
  checkScalar(name, f.type, v);
  checkConstraints(name, f, v);
}

function checkConstraints(name: string, f: ConfigField, v: unknown): void {
  if (f.enum && !f.enum.includes(v as string | number | boolean)) {
    throw bad(name, `one of ${f.enum.map((e) => JSON.stringify(e)).join(", ")}`, v);
  }
  if (typeof v === "number") {
    if (f.minimum !== undefined && v < f.minimum) throw bad(name, `>= ${f.minimum}`, v);
    if (f.maximum !== undefined && v > f.maximum) throw bad(name, `<= ${f.maximum}`, v);
  }
  if (typeof v === "string") {
    if (f.max_length !== undefined && v.length > f.max_length) {
      throw bad(name, `at most ${f.max_length} characters`, `${v.length} characters`);
    }
    if (f.min_length !== undefined && v.length < f.min_length) {
      throw bad(name, `at least ${f.min_length} characters`, `${v.length} characters`);
    }
    if (f.pattern !== undefined && !new RegExp(f.pattern).test(v)) {
      throw bad(name, `a string matching ${f.pattern}`, v);
    }
  }
}

/**
 * Validates `config` against the manifest's field list and returns it with defaults applied
 * (contract 3). Throws PluginError("invalid_config") naming the first bad field.
 * @throws {PluginError} `invalid_config` naming the first field that does not match the manifest's schema
 */
export function validatePluginConfig(
  manifest: PluginManifest,
  config: Record<string, unknown>,
): Record<string, unknown> {
  if (config === null || typeof config !== "object" || Array.isArray(config)) {
    throw new PluginError("invalid_config", `config: expected an object, found ${found(config)}`);
  }
  const fields = manifest.config;
  for (const key of Object.keys(config)) {
    if (!Object.hasOwn(fields, key)) {
      const known = Object.keys(fields).join(", ") || "none";
      throw new PluginError(
        "invalid_config",
        `config.${key}: unknown field (plugin ${manifest.id} declares: ${known})`,
      );
    }
  }
  const out: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(fields)) {
    const given = config[name];
    if (given === undefined || given === null) {
      if (f.default !== undefined) out[name] = structuredClone(f.default);
      else if (f.required) throw bad(name, `a ${f.type} (required)`, given);
      continue;
    }
    validateField(name, f, given);
    out[name] = given;
  }
  return out;
}

/**
 * The config values to mask in logs: fields declared `secret: true` or whose name looks
 * sensitive (token, password, api_key, ...). Strings only, shortest ignored (< 4 chars).
 */
export function secretValues(
  manifest: PluginManifest,
  config: Record<string, unknown>,
): string[] {
  const out: string[] = [];
  const add = (v: unknown) => {
    if (typeof v === "string" && v.length >= 4) out.push(v);
    else if (Array.isArray(v)) v.forEach(add);
    else if (v && typeof v === "object") Object.values(v).forEach(add);
  };
  for (const [name, f] of Object.entries(manifest.config)) {
    if (f.secret || isSensitiveKey(name)) add(config[name]);
  }
  return out;
}
