/**
 * Loading a policy bundle: a directory of `*.cedar` files, an optional `*.cedarschema` (the
 * policies are validated against it in strict mode) and an optional `entities.json`.
 * Each policy's annotations are read here, so obligations and risk adjustments come from the
 * policies themselves.
 * @module
 */
import * as cedar from "@cedar-policy/cedar-wasm";
import { sha256Hex } from "../crypto/mod.ts";
import { join } from "node:path";
import { errorMessage } from "../errors/mod.ts";

/** Largest bundle file read. */
const MAX_BUNDLE_FILE_BYTES = 1024 * 1024;
/** Most files in a bundle directory. */
const MAX_BUNDLE_FILES = 256;
/** Name of the optional static entities file. */
const ENTITIES_FILE = "entities.json";

/** A bundle that cannot be loaded; names the file and the problem. */
export class PolicyBundleError extends Error {
  override name = "PolicyBundleError";
}

/** One loaded policy. */
export interface LoadedPolicy {
  id: string;
  file: string;
  effect: "permit" | "forbid";
  annotations: Record<string, string>;
  text: string;
}

/** A parsed, validated bundle. */
export interface Bundle {
  dir: string;
  /** Content hash: `sha256:<first 16 hex>` of every file's name and bytes. */
  ref: string;
  policies: LoadedPolicy[];
  schema?: string;
  entities: cedar.EntityJson[];
}

/**
 * Reads the bundle files: name -> text, sorted by name.
 * @throws {PolicyBundleError} when the folder cannot be read or holds too many or too large files
 */
export async function readBundleFiles(dir: string): Promise<Map<string, string>> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (!e.isFile) continue;
      if (
        e.name.endsWith(".cedar") || e.name.endsWith(".cedarschema") || e.name === ENTITIES_FILE
      ) {
        names.push(e.name);
      }
    }
  } catch (err) {
    throw new PolicyBundleError(`${dir}: cannot read the policy directory: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  if (names.length > MAX_BUNDLE_FILES) {
    throw new PolicyBundleError(`${dir}: more than ${MAX_BUNDLE_FILES} bundle files`);
  }
  names.sort();
  const files = new Map<string, string>();
  for (const name of names) {
    const path = join(dir, name);
    const info = await Deno.stat(path);
    if (info.size > MAX_BUNDLE_FILE_BYTES) {
      throw new PolicyBundleError(`${path}: larger than ${MAX_BUNDLE_FILE_BYTES} bytes`);
    }
    files.set(name, await Deno.readTextFile(path));
  }
  return files;
}

/** Content hash of bundle files (also the hot-reload fingerprint). */
export function bundleRef(files: Map<string, string>): string {
  let all = "";
  for (const [name, text] of files) all += `${name}\0${text.length}\0${text}`;
  return `sha256:${sha256Hex(all).slice(0, 16)}`;
}

function firstError(errors: Array<{ message: string }>): string {
  return errors.map((e) => e.message).slice(0, 3).join("; ");
}

function splitPolicies(file: string, text: string): LoadedPolicy[] {
  const parts = cedar.policySetTextToParts(text);
  if (parts.type === "failure") throw new PolicyBundleError(`${file}: ${firstError(parts.errors)}`);
  if (parts.policy_templates.length > 0) {
    throw new PolicyBundleError(`${file}: policy templates are not supported`);
  }
  return parts.policies.map((ptext, n) => {
    const json = cedar.policyToJson(ptext);
    if (json.type === "failure") throw new PolicyBundleError(`${file}: ${firstError(json.errors)}`);
    const annotations = (json.json.annotations ?? {}) as Record<string, string>;
    return {
      id: annotations.id ?? `${file}#${n}`,
      file,
      effect: json.json.effect,
      annotations,
      text: ptext,
    };
  });
}

function checkAnnotations(p: LoadedPolicy): void {
  const delta = p.annotations.risk_delta;
  if (delta !== undefined && !/^[-+]?\d{1,9}$/.test(delta)) {
    throw new PolicyBundleError(
      `${p.file}: policy ${p.id}: @risk_delta("${delta}") is not an integer`,
    );
  }
}

/**
 * Parses and validates bundle files. Throws PolicyBundleError naming the file.
 * @throws {PolicyBundleError} naming the file and the problem (a Cedar syntax error, bad entities JSON)
 */
export function parseBundle(dir: string, files: Map<string, string>): Bundle {
  const policies: LoadedPolicy[] = [];
  let schema: string | undefined;
  let entities: cedar.EntityJson[] = [];
  for (const [name, text] of files) {
    if (name.endsWith(".cedar")) policies.push(...splitPolicies(name, text));
    else if (name.endsWith(".cedarschema")) {
      if (schema !== undefined) {
        throw new PolicyBundleError(`${name}: only one schema file is allowed`);
      }
      const r = cedar.checkParseSchema(text);
      if (r.type === "failure") throw new PolicyBundleError(`${name}: ${firstError(r.errors)}`);
      schema = text;
    } else {
      try {
        entities = JSON.parse(text);
      } catch (err) {
        throw new PolicyBundleError(`${name}: not JSON: ${errorMessage(err)}`, { cause: err });
      }
      if (!Array.isArray(entities)) throw new PolicyBundleError(`${name}: expected a JSON array`);
      const r = cedar.checkParseEntities({ entities, schema: schema ?? null });
      if (r.type === "failure") throw new PolicyBundleError(`${name}: ${firstError(r.errors)}`);
    }
  }
  if (policies.length === 0) throw new PolicyBundleError(`${dir}: no policies (*.cedar) found`);
  const seen = new Map<string, string>();
  for (const p of policies) {
    if (seen.has(p.id)) {
      throw new PolicyBundleError(
        `${p.file}: policy id "${p.id}" is also used in ${seen.get(p.id)}`,
      );
    }
    seen.set(p.id, p.file);
    checkAnnotations(p);
  }
  if (schema !== undefined) validateAgainst(schema, policies);
  return { dir, ref: bundleRef(files), policies, schema, entities };
}

function validateAgainst(schema: string, policies: LoadedPolicy[]): void {
  const staticPolicies = Object.fromEntries(policies.map((p) => [p.id, p.text]));
  const r = cedar.validate({
    schema,
    policies: { staticPolicies },
    validationSettings: { mode: "strict" },
  });
  if (r.type === "failure") throw new PolicyBundleError(`schema: ${firstError(r.errors)}`);
  const e = r.validationErrors[0];
  if (e) {
    const file = policies.find((p) => p.id === e.policyId)?.file ?? "?";
    throw new PolicyBundleError(
      `${file}: policy ${e.policyId} fails validation: ${e.error.message}`,
    );
  }
}

/** Reads and parses a bundle directory. */
export async function loadBundle(dir: string): Promise<Bundle> {
  return parseBundle(dir, await readBundleFiles(dir));
}
