/**
 * Reading a YAML config file: parse with line numbers, refuse unknown keys (with a did-you-mean)
 * unless tolerated, and expand `${VAR}` in string values; plus the small value helpers the
 * loader shares. The YAML parser is imported when a file is read (about 4 MB of an idle
 * process that has none).
 * @module
 */
import { lateImport } from "./late_import.ts";
import type { Document, LineCounter, Node as YamlNode, YAMLMap } from "yaml";
import { ConfigError, type ConfigSource, errorMessage } from "../errors/mod.ts";
import {
  didYouMean,
  type ExpandOptions,
  expandString,
  isTolerated,
  UnsetVariableError,
} from "./expand.ts";
import type { Section, Shape } from "./fields.ts";
import { NotUtf8Error, unreadableWhy } from "./read_bounded.ts";

/** Reads an env var; returns undefined for unset or not permitted. */
export type EnvReader = (name: string) => string | undefined;

/**
 * How a found value is shown in an error: its type and (shortened) text. A URL's user info (a
 * password) is not shown: everything between its `//` and its last `@`, so that a password with an
 * unencoded `/`, `?` or `#` does not show either.
 */
export function describeFound(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (typeof value === "string") {
    const shown = value.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^]*@/i, "$1(user info not shown)@");
    return `string ${JSON.stringify(truncate(shown, 80))}`;
  }
  if (Array.isArray(value)) return `a list ${truncate(JSON.stringify(value), 80)}`;
  if (typeof value === "object") return `a mapping ${truncate(JSON.stringify(value), 80)}`;
  return `${typeof value} ${String(value)}`;
}

function truncate(s: string, n: number): string {
  return s.length > n ? s.slice(0, n) + "..." : s;
}

/** Sets `path` in `obj`, creating the sections on the way. */
export function setIn(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = obj;
  for (const p of path.slice(0, -1)) {
    cur[p] ??= {};
    cur = cur[p] as Record<string, unknown>;
  }
  cur[path[path.length - 1]] = value;
}

/** The value at `path` in `obj`, or undefined. */
export function getIn(obj: unknown, path: string[]): unknown {
  let cur = obj;
  for (const p of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

/** Parsed YAML file: plain values plus a way to find each key's line. */
export interface FileLayer {
  path: string;
  values: Record<string, unknown>;
  lineOf(path: string[]): number | undefined;
}

/** How a file is checked: tolerated and deprecated keys, `${VAR}` expansion. */
export interface FileRules {
  tolerated: ReadonlySet<string>;
  /** Deprecated dotted keys still read (their setting warns when one is used). */
  aliases?: ReadonlySet<string>;
  /** Tolerated keys found in the file. */
  ignored: string[];
  expand?: (values: Record<string, unknown>) => Omit<ExpandOptions, "env">;
  env: EnvReader;
}

/** The `yaml` package, imported on first use. */
type Yaml = typeof import("./yaml.ts");

/**
 * Reads, parses and checks the YAML config file at `path` (unknown keys refused unless
 * tolerated, `${VAR}` references expanded where the rules allow).
 * @throws {ConfigError} naming `config` when it cannot be read, is not YAML or not a mapping,
 * or naming the key of an unknown key, a section given a scalar or a bad expansion
 */
export async function loadFile(
  path: string,
  shape: Shape,
  read: (p: string) => string | Promise<string>,
  rules: FileRules,
): Promise<FileLayer> {
  const fileSource: ConfigSource = { kind: "file", path };
  let text: string;
  try {
    text = await read(path);
  } catch (err) {
    if (err instanceof NotUtf8Error) {
      throw new ConfigError(
        "config",
        { kind: "file", path, line: err.line },
        "UTF-8 text",
        "a byte sequence that is not UTF-8 (save the file as UTF-8)",
        { cause: err },
      );
    }
    if (err instanceof ConfigError) throw err; // IATP_FILE_READ_TIMEOUT that is not a duration
    throw new ConfigError("config", fileSource, "a readable YAML file", unreadableWhy(err));
  }
  // By a computed specifier: Deno reads the registry data of the npm packages a string-literal
  // `import()` reaches while it builds the graph at start.
  const yaml = await lateImport<Yaml>("./yaml.ts", import.meta.url);
  const { isMap } = yaml;
  const lc = new yaml.LineCounter();
  // `merge`: YAML 1.1's merge key (`<<: *base`, or a list of aliases), which compose files and
  // Kubernetes manifests use; its keys are checked as if written in the mapping that merges them.
  const doc = yaml.parseDocument(text, {
    lineCounter: lc,
    prettyErrors: false,
    uniqueKeys: true,
    merge: true,
  });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const line = lc.linePos(e.pos[0]).line;
    throw new ConfigError(
      "config",
      { kind: "file", path, line },
      "valid YAML",
      truncate(e.message.split("\n")[0], 120),
    );
  }
  const lineOf = (p: string[]): number | undefined => {
    const range = nodeAt(doc, yaml, p)?.range;
    return range ? lc.linePos(range[0]).line : undefined;
  };
  if (doc.contents === null) return { path, values: {}, lineOf };
  if (!isMap(doc.contents)) {
    throw new ConfigError("config", fileSource, "a YAML mapping of keys", "a non-mapping document");
  }
  const values = valuesOf(doc, fileSource);
  checkUnknownKeys(doc.contents, shape, [], { file: path, lc, rules, yaml, doc });
  if (rules.expand) {
    expandValues(values, [], { ...rules.expand(values), env: rules.env }, lineOf, path);
  }
  return { path, values, lineOf };
}

/**
 * The document's values.
 * @throws {ConfigError} naming `config` for an alias to no anchor, or aliases that expand past
 * the parser's bound (maxAliasCount): the parser reports both only here
 */
function valuesOf(doc: { toJS(): unknown }, fileSource: ConfigSource): Record<string, unknown> {
  try {
    return doc.toJS() as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(
      "config",
      fileSource,
      "valid YAML",
      truncate(errorMessage(err).split("\n")[0], 120),
      { cause: err },
    );
  }
}

function expandValues(
  node: Record<string, unknown> | unknown[],
  at: string[],
  opts: ExpandOptions,
  lineOf: (p: string[]) => number | undefined,
  file: string,
  budget = { left: 1000 },
  seen = new WeakSet<object>(),
): void {
  // An alias (`*name`) or merge key gives several paths the same object: expand it once, or a
  // value holding `${` after expansion would be expanded again.
  if (seen.has(node)) return;
  seen.add(node);
  for (const [k, v] of Object.entries(node)) {
    const here = [...at, k];
    if (typeof v === "string" && v.includes("{")) {
      try {
        (node as Record<string, unknown>)[k] = expandString(v, opts, budget);
      } catch (err) {
        if (!(err instanceof UnsetVariableError)) throw err;
        throw new ConfigError(
          here.join("."),
          { kind: "file", path: file, line: lineOf(here) },
          "set variables in ${...} (or ${VAR:-default})",
          err.message,
        );
      }
    } else if (v !== null && typeof v === "object") {
      expandValues(v as Record<string, unknown>, here, opts, lineOf, file, budget, seen);
    }
  }
}

interface KeyCheck {
  file: string;
  lc: LineCounter;
  rules: FileRules;
  yaml: Yaml;
  /** The document, to resolve an alias (`*name`) to the node its anchor names. */
  doc: Document;
}

/** Whether a pair's key is YAML's merge key (`<<`, read with the `merge` option). */
function isMergeKey(key: unknown, yaml: Yaml): boolean {
  const v = yaml.isScalar(key) ? key.value : key;
  return v === "<<" || (typeof v === "symbol" && v.description === "<<");
}

/** A node with its alias, if it is one, resolved. */
function resolved(node: unknown, yaml: Yaml, doc: Document): unknown {
  return yaml.isAlias(node) ? node.resolve(doc) : node;
}

/**
 * The mappings a merge key's value names, in the order they count: one mapping (an alias to
 * it, or written in place) or a list of them.
 */
function mergeSources(value: unknown, yaml: Yaml, doc: Document): unknown[] {
  const v = resolved(value, yaml, doc);
  return yaml.isSeq(v) ? v.items.map((it) => resolved(it, yaml, doc)) : [v];
}

/**
 * The node at `path`, following aliases and merge keys as `toJS` does (a key written in a
 * mapping wins over a merged one; earlier merge sources win over later ones).
 */
function nodeAt(doc: Document, yaml: Yaml, path: string[]): YamlNode | undefined {
  let cur: unknown = doc.contents;
  for (const key of path) {
    const map = resolved(cur, yaml, doc);
    if (!yaml.isMap(map)) return undefined;
    cur = pairIn(map, key, yaml, doc, 0)?.value;
    if (cur === undefined) return undefined;
  }
  return cur as YamlNode;
}

function pairIn(
  map: YAMLMap,
  key: string,
  yaml: Yaml,
  doc: Document,
  depth: number,
): { value: unknown } | undefined {
  const own = map.items.find((p) =>
    !isMergeKey(p.key, yaml) && String(yaml.isScalar(p.key) ? p.key.value : p.key) === key
  );
  if (own || depth > 20) return own;
  for (const p of map.items) {
    if (!isMergeKey(p.key, yaml)) continue;
    for (const src of mergeSources(p.value, yaml, doc)) {
      if (!yaml.isMap(src)) continue;
      const found = pairIn(src, key, yaml, doc, depth + 1);
      if (found) return found;
    }
  }
  return undefined;
}

function checkUnknownKeys(map: YAMLMap, shape: Shape, prefix: string[], ctx: KeyCheck): void {
  const { file, lc, rules } = ctx;
  const { isMap, isScalar, isSeq } = ctx.yaml;
  for (const pair of map.items) {
    const keyNode = pair.key;
    if (isMergeKey(keyNode, ctx.yaml)) {
      // Its mappings' keys count as written here (toJS has already refused a source that is
      // not a mapping, and the parser's alias bound holds the expansion).
      for (const src of mergeSources(pair.value, ctx.yaml, ctx.doc)) {
        if (isMap(src)) checkUnknownKeys(src, shape, prefix, ctx);
      }
      continue;
    }
    const name = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
    const range = isScalar(keyNode) ? keyNode.range : undefined;
    const line = range ? lc.linePos(range[0]).line : undefined;
    const node = shape[name];
    const key = [...prefix, name].join(".");
    if (!node && rules.aliases?.has(key)) continue;
    if (!node && isTolerated(key, rules.tolerated)) {
      rules.ignored.push(key);
      continue;
    }
    if (!node) {
      const known = [
        ...Object.keys(shape),
        ...[...rules.tolerated].filter((t) => t.startsWith(prefix.map((p) => p + ".").join("")))
          .map((t) => t.slice(prefix.join(".").length + (prefix.length ? 1 : 0)).split(".")[0])
          .filter((t) => t !== "*"),
      ];
      const guess = didYouMean(name, new Set(known));
      throw new ConfigError(
        key,
        { kind: "file", path: file, line },
        guess
          ? `a known key (did you mean "${guess}"?)`
          : `one of the known keys (${Object.keys(shape).join(", ")})`,
        `unknown key "${name}"`,
      );
    }
    if (node.kind === "section") {
      // A section may be an alias of a mapping anchored elsewhere (`audit: *relay`).
      const value = ctx.yaml.isAlias(pair.value) ? pair.value.resolve(ctx.doc) : pair.value;
      if (isMap(value)) {
        checkUnknownKeys(value, (node as Section<Shape>).fields, [...prefix, name], ctx);
      } else if (
        value !== null && value !== undefined && !(isScalar(value) && value.value === null)
      ) {
        throw new ConfigError(
          key,
          { kind: "file", path: file, line },
          "a mapping",
          isSeq(value) ? "a list" : describeFound(isScalar(value) ? value.value : ""),
        );
      }
    }
  }
}
