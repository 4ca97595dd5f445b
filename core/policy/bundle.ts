/**
 * Loading a policy bundle: a directory of `*.cedar` files, an optional `*.cedarschema` (the
 * policies are validated against it in strict mode) and an optional `entities.json`.
 * Each policy's annotations are read here, so obligations and risk adjustments come from the
 * policies themselves.
 * @module
 */
import * as cedar from "@cedar-policy/cedar-wasm";
import { decodeUtf8, NotUtf8Error } from "../config/mod.ts";
import { sha256Hex } from "../crypto/mod.ts";
import { join } from "node:path";
import { constants as fsConstants } from "node:fs";
import { open as openFile } from "node:fs/promises";
import { errorMessage } from "../errors/mod.ts";

/** Largest bundle file read. */
const MAX_BUNDLE_FILE_BYTES = 1024 * 1024;
/** Most files in a bundle directory. */
const MAX_BUNDLE_FILES = 256;
/** Name of the optional static entities file. */
const ENTITIES_FILE = "entities.json";
/** Names of Cedar's JSON formats, refused by name (see readBundleFiles). */
const JSON_FORMATS = [
  { suffix: ".cedarschema.json", what: "schema", instead: ".cedarschema" },
  { suffix: ".cedar.json", what: "policy", instead: ".cedar" },
];

/**
 * Deepest nesting of brackets (`(`, `[`, `{`) read in a policy: Cedar's parser (WebAssembly, a
 * fixed stack) overflows near 120 levels and is then unusable for every later call, so deeper
 * text is refused before Cedar sees it.
 */
export const MAX_POLICY_NESTING = 32;
/** Most operators (`&&`, `+`, `.`, `if`, ...) in one policy, for the same reason. */
export const MAX_POLICY_OPERATORS = 512;
/**
 * Deepest expression a policy may hold, counted in its JSON form (about two levels per
 * operator): Cedar's evaluator overflows its stack near 360 nested operators, and is then unusable.
 */
export const MAX_POLICY_EXPRESSION_DEPTH = 256;
/**
 * Most (entity, ancestor) pairs in `entities.json`'s hierarchy. The entities go with every
 * request, and Cedar works out who is in what for each one, in time and memory growing with this
 * closure (a chain of n groups holds n*(n-1)/2): a chain of 4,000 groups costs seconds a decision
 * and 10,000 exhaust Cedar's memory, breaking every later decision.
 */
export const MAX_ENTITY_ANCESTORS = 100_000;
/**
 * Largest schema file: Cedar reads a schema at about 100 KB a second, twice (to check it, then to
 * validate the policies), holding up decisions meanwhile.
 */
export const MAX_SCHEMA_BYTES = 256 * 1024;
/** Default most policies in a bundle (setting `max_policies`): Cedar reads about 500 a second. */
export const DEFAULT_MAX_POLICIES = 1000;

/** Bounds of a bundle that are settings. */
export interface BundleLimits {
  /** Most policies in the bundle, all files together (default {@linkcode DEFAULT_MAX_POLICIES}). */
  maxPolicies?: number;
}

/** A bundle that cannot be loaded; names the file (and the line when known) and the problem. */
export class PolicyBundleError extends Error {
  override name = "PolicyBundleError";
  /** The bundle file at fault (or the folder). */
  readonly file?: string;
  /** The 1-based line in `file`, when known. */
  readonly line?: number;

  constructor(message: string, opts: { file?: string; line?: number; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.file = opts.file;
    this.line = opts.line;
  }
}

/**
 * A PolicyBundleError whose message starts with `file:line: ` (or `file: `). File names and
 * policy ids come from the bundle, so control characters in the message are shown escaped
 * (`\u001b`): printed at start-up it would otherwise reach the terminal as control sequences.
 */
function fault(file: string, line: number | undefined, problem: string, cause?: unknown) {
  const where = line === undefined ? file : `${file}:${line}`;
  return new PolicyBundleError(harmless(`${where}: ${problem}`), { file, line, cause });
}

/** `text` with its control characters (and U+2028/U+2029) written as `\uXXXX`. */
function harmless(text: string): string {
  return text.replace(
    /[\p{Cc}\u2028\u2029]/gu,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** The 1-based line of UTF-8 byte `offset` in `text` (Cedar's source locations are bytes). */
function lineAt(text: string, offset: number): number {
  const bytes = new TextEncoder().encode(text);
  let line = 1;
  for (let i = 0; i < Math.min(offset, bytes.length); i++) if (bytes[i] === 0x0a) line++;
  return line;
}

/** One loaded policy. */
export interface LoadedPolicy {
  id: string;
  file: string;
  effect: "permit" | "forbid";
  annotations: Record<string, string>;
  text: string;
  /** The line of `file` the policy starts on (when found). */
  line?: number;
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
 * How long after a file's last change (its mtime or ctime) its identity is not trusted to show a
 * later change: a rewrite of the same size within the same tick of the file system's clock leaves
 * size and times as they were. Deno reads mtime to the millisecond and ctime to the second, and
 * some file systems keep whole seconds (two on FAT); 2 s covers them all, with room for the kernel's
 * coarse clock lagging the wall clock.
 */
export const BUNDLE_SETTLE_MS = 2000;

/**
 * Bundle files read earlier, by name: the identity each had (device, inode, size, mtime, ctime and,
 * for a symlink, the path it leads to) and its text. {@linkcode readBundleFiles} keeps only files
 * settled ({@linkcode BUNDLE_SETTLE_MS}) when read, and reads again any file whose identity
 * differs, so text taken from here is the file's text.
 */
export type BundleFileCache = Map<string, { stamp: string; text: string }>;

/**
 * Reads the bundle files: name -> text, sorted by name. With `cache`, a file whose identity is
 * the one cached is not read again (its cached text is returned, the same string), and `cache` is
 * updated once the whole bundle was read (left as it was when this throws).
 * @throws {PolicyBundleError} when the folder cannot be read or holds too many or too large files
 */
export async function readBundleFiles(
  dir: string,
  cache?: BundleFileCache,
): Promise<Map<string, string>> {
  const started = Date.now();
  const links = new Set<string>();
  const names: string[] = [];
  let jsonFormat: string | undefined;
  try {
    for await (const e of Deno.readDir(dir)) {
      // A hidden file is no part of the bundle: an editor's lock file (`.#seed.cedar`, a link
      // to nowhere while the file is edited) would otherwise break every reload meanwhile.
      if (e.name.startsWith(".")) continue;
      // Every entry of a bundle name counts, whatever it is: a symlinked file (a mounted ConfigMap
      // links every file) is read, and a named pipe, device, socket or folder is refused below
      // (left out, its policies would be dropped from the bundle without a word).
      if (JSON_FORMATS.some((f) => e.name.endsWith(f.suffix))) jsonFormat ??= e.name;
      if (
        e.name.endsWith(".cedar") || e.name.endsWith(".cedarschema") || e.name === ENTITIES_FILE
      ) {
        names.push(e.name);
        if (e.isSymlink) links.add(e.name);
      }
    }
  } catch (err) {
    throw fault(dir, undefined, `cannot read the policy directory: ${errorMessage(err)}`, err);
  }
  // Cedar's JSON formats are not read: left out, a schema would leave every policy unvalidated
  // (and policies unloaded) without a word.
  if (jsonFormat !== undefined) {
    const f = JSON_FORMATS.find((f) => jsonFormat!.endsWith(f.suffix))!;
    throw fault(
      jsonFormat,
      undefined,
      `Cedar's JSON ${f.what} format is not read: write it in Cedar's own syntax as *${f.instead}`,
    );
  }
  if (names.length > MAX_BUNDLE_FILES) {
    throw fault(dir, undefined, `more than ${MAX_BUNDLE_FILES} bundle files`);
  }
  names.sort();
  const files = new Map<string, string>();
  const next: BundleFileCache = new Map();
  for (const name of names) {
    const path = join(dir, name);
    let bytes: Uint8Array;
    let stamp: string | undefined;
    try {
      // The identity is taken before the text is read: a change while reading changes it again.
      // Synchronous: 256 stats take about a millisecond so, against 25 ms of CPU through the
      // asynchronous ops (measured by scripts/bench/policy_reload.ts).
      const info = Deno.statSync(path);
      checkRegular(name, path, info);
      // A mounted ConfigMap swaps its `..data` link to a new folder: the path a link leads to
      // names the folder in force.
      stamp = fileStamp(info, links.has(name) ? Deno.realPathSync(path) : "", started);
      const known = stamp === undefined ? undefined : cache?.get(name);
      if (stamp !== undefined && known?.stamp === stamp) {
        files.set(name, known.text);
        next.set(name, known);
        continue;
      }
      const read = await readRegularFile(name, path);
      bytes = read.bytes;
      // Swapped for another file since the stat: what was read is not the file stamped.
      if (read.dev !== info.dev || read.ino !== info.ino) stamp = undefined;
    } catch (err) {
      if (err instanceof PolicyBundleError) throw err;
      // The listing gives a name that is not UTF-8 with U+FFFD in place of its bytes, a name
      // no file has.
      if (err instanceof Deno.errors.NotFound && name.includes("\uFFFD")) {
        throw fault(name, undefined, "its name is not UTF-8: rename the file", err);
      }
      // Removed since the listing, a dangling link, a link loop, no permission.
      throw fault(name, undefined, `cannot be read: ${errorMessage(err)}`, err);
    }
    const text = bundleText(name, bytes);
    files.set(name, text);
    if (stamp !== undefined) next.set(name, { stamp, text });
  }
  if (cache !== undefined) {
    cache.clear();
    for (const [name, entry] of next) cache.set(name, entry);
  }
  return files;
}

/** What a file is, told by its mode (`st_mode`) as stat gives it. */
function fileKind(mode: number | null): string {
  switch ((mode ?? 0) & fsConstants.S_IFMT) {
    case fsConstants.S_IFDIR:
      return "a folder";
    case fsConstants.S_IFIFO:
      return "a named pipe (FIFO)";
    case fsConstants.S_IFSOCK:
      return "a socket";
    case fsConstants.S_IFCHR:
    case fsConstants.S_IFBLK:
      return "a device";
    default:
      return "not a regular file";
  }
}

/** The refusal of a bundle file that is not a regular file. */
function notRegular(name: string, path: string, mode: number | null): PolicyBundleError {
  return fault(
    name,
    undefined,
    `${fileKind(mode)}, not a regular file: a bundle file must be one (${path})`,
  );
}

/**
 * Refuses a bundle file that is not a regular file (a named pipe, a device, a socket, a folder)
 * or is larger than {@linkcode MAX_BUNDLE_FILE_BYTES}, as the stat of its path shows it.
 */
function checkRegular(name: string, path: string, info: Deno.FileInfo): void {
  if (!info.isFile) throw notRegular(name, path, info.mode);
  if (info.size > MAX_BUNDLE_FILE_BYTES) {
    throw fault(name, undefined, `larger than ${MAX_BUNDLE_FILE_BYTES} bytes (${path})`);
  }
}

/**
 * Reads a bundle file that must be a regular file of at most {@linkcode MAX_BUNDLE_FILE_BYTES}.
 * The file is what the opened handle shows, not what a stat of the path showed before: the path
 * may have been swapped since for a named pipe (whose open and read wait for a writer, holding the
 * reloader for good) or a device (`/dev/zero` never ends). So it is opened without waiting
 * (`O_NONBLOCK`, which changes nothing for a regular file), refused unless the handle is a regular
 * file, and read to at most one byte past the bound.
 * @throws {PolicyBundleError} when it is not a regular file or is too large
 */
async function readRegularFile(
  name: string,
  path: string,
): Promise<{ bytes: Uint8Array; dev: number; ino: number }> {
  const file = await openFile(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  try {
    const info = await file.stat();
    if (!info.isFile()) throw notRegular(name, path, info.mode);
    if (info.size > MAX_BUNDLE_FILE_BYTES) {
      throw fault(name, undefined, `larger than ${MAX_BUNDLE_FILE_BYTES} bytes (${path})`);
    }
    // The file may grow while it is read: read on to one byte past the bound at most.
    let buf = new Uint8Array(Math.min(info.size, MAX_BUNDLE_FILE_BYTES) + 1);
    let n = 0;
    for (;;) {
      if (n === buf.length) {
        if (n > MAX_BUNDLE_FILE_BYTES) {
          throw fault(name, undefined, `larger than ${MAX_BUNDLE_FILE_BYTES} bytes (${path})`);
        }
        const grown = new Uint8Array(Math.min(2 * n, MAX_BUNDLE_FILE_BYTES + 1));
        grown.set(buf);
        buf = grown;
      }
      const { bytesRead } = await file.read(buf, n, buf.length - n, null);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    return { bytes: buf.subarray(0, n), dev: info.dev, ino: info.ino };
  } finally {
    await file.close();
  }
}

/**
 * A file's identity as a string, or undefined while it is not settled: changed less than
 * {@linkcode BUNDLE_SETTLE_MS} before `now` (or later, a clock ahead), or with no times to tell.
 * ctime counts beside mtime: no tool sets it (`cp -p`, `tar` and `touch -d` set mtime back), and
 * any write or rename sets it to the time of the change.
 */
function fileStamp(info: Deno.FileInfo, target: string, now: number): string | undefined {
  const mtime = info.mtime?.getTime();
  const ctime = info.ctime?.getTime() ?? mtime;
  if (mtime === undefined || ctime === undefined) return undefined;
  if (Math.max(mtime, ctime) > now - BUNDLE_SETTLE_MS) return undefined;
  return `${info.dev}:${info.ino}:${info.size}:${mtime}:${ctime}:${target}`;
}

/**
 * The text of a bundle file, which must be UTF-8: a byte that is not is refused naming its
 * line (read leniently it would become U+FFFD, and a policy would compare against text other
 * than what its author wrote).
 */
function bundleText(name: string, bytes: Uint8Array): string {
  try {
    return decodeUtf8(bytes);
  } catch (err) {
    if (!(err instanceof NotUtf8Error)) throw err;
    throw fault(name, err.line, "not UTF-8 text", err);
  }
}

/**
 * Refuses policy text nested deeper than {@linkcode MAX_POLICY_NESTING} brackets or with more
 * than {@linkcode MAX_POLICY_OPERATORS} operators in one policy, before Cedar parses it (strings
 * and comments are skipped).
 */
function checkNesting(file: string, text: string, countOperators = true): number[] {
  let depth = 0;
  let line = 1;
  let operators = 0;
  /** The line each statement (policy) ends on. */
  const ends: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\n") line++;
    else if (c === "/" && text[i + 1] === "/") {
      while (i + 1 < text.length && text[i + 1] !== "\n") i++;
    } else if (c === '"') {
      for (i++; i < text.length && text[i] !== '"'; i++) {
        if (text[i] === "\\") i++;
        else if (text[i] === "\n") line++;
      }
    } else if (c === "(" || c === "[" || c === "{") {
      if (++depth > MAX_POLICY_NESTING) {
        throw fault(file, line, `nested deeper than ${MAX_POLICY_NESTING} brackets`);
      }
    } else if (c === ")" || c === "]" || c === "}") depth = Math.max(0, depth - 1);
    else if (c === ";" && depth === 0) {
      operators = 0;
      ends.push(line);
    } else if (countOperators && ("&|=!<>+-*.".includes(c) || isIf(text, i))) {
      if (++operators > MAX_POLICY_OPERATORS) {
        throw fault(file, line, `more than ${MAX_POLICY_OPERATORS} operators in one policy`);
      }
    }
  }
  return ends;
}

/** Whether the keyword `if` starts at `i`. */
function isIf(text: string, i: number): boolean {
  return text.startsWith("if", i) && !/\w/.test(text[i - 1] ?? "") && !/\w/.test(text[i + 2] ?? "");
}

/** The nesting depth of a JSON value (iterative: the value may be deep). */
function jsonDepth(value: unknown): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== "object") continue;
    max = Math.max(max, d);
    for (const child of Object.values(v)) stack.push([child, d + 1]);
  }
  return max;
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

/** The line in `text` of the first error's first source location, when it has one. */
function errorLine(text: string, errors: cedar.DetailedError[]): number | undefined {
  const start = errors[0]?.sourceLocations?.[0]?.start;
  return start === undefined ? undefined : lineAt(text, start);
}

/** The offsets at which the lines of `text` start. */
function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) starts.push(i + 1);
  return starts;
}

/** The 1-based line holding offset `at`, given the {@linkcode lineStarts} of its text. */
function lineOf(starts: number[], at: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= at) lo = mid;
    else hi = mid - 1;
  }
  return lo + 1;
}

function splitPolicies(file: string, text: string): LoadedPolicy[] {
  const parts = cedar.policySetTextToParts(text);
  if (parts.type === "failure") {
    throw fault(file, errorLine(text, parts.errors), firstError(parts.errors));
  }
  if (parts.policy_templates.length > 0) {
    const at = text.indexOf(parts.policy_templates[0]);
    throw fault(
      file,
      at >= 0 ? lineOf(lineStarts(text), at) : undefined,
      "policy templates (?principal, ?resource) are not supported: write the policy with the " +
        "entity in place of the slot",
    );
  }
  // Cedar hands the policies back in the order of its own ids (policy0, policy1, policy10, ...),
  // not the file's: each is found from the file's start, at a place no other took.
  const taken = new Set<number>();
  const lines = lineStarts(text);
  return parts.policies.map((ptext, n) => {
    let at = text.indexOf(ptext);
    while (at >= 0 && taken.has(at)) at = text.indexOf(ptext, at + 1);
    if (at >= 0) taken.add(at);
    const line = at >= 0 ? lineOf(lines, at) : undefined;
    const json = cedar.policyToJson(ptext);
    if (json.type === "failure") {
      const inPart = errorLine(ptext, json.errors);
      throw fault(
        file,
        line === undefined ? undefined : line + (inPart ?? 1) - 1,
        firstError(json.errors),
      );
    }
    const annotations = (json.json.annotations ?? {}) as Record<string, string>;
    // An empty id (`@id("")`, blank, or `@id` with no value) would name the policy nowhere: a
    // decision's reason would read "permitted by ". Refused rather than replaced by `<file>#<n>`,
    // so the author who wrote it sees it.
    if ("id" in annotations && (annotations.id ?? "").trim() === "") {
      throw fault(file, line, `@id is empty: name the policy, or leave @id out for ${file}#${n}`);
    }
    const id = annotations.id ?? `${file}#${n}`;
    if (jsonDepth(json.json.conditions) > MAX_POLICY_EXPRESSION_DEPTH) {
      throw fault(
        file,
        line,
        `policy ${id}: expression nested deeper than ${MAX_POLICY_EXPRESSION_DEPTH} levels`,
      );
    }
    return { id, file, effect: json.json.effect, annotations, text: ptext, line };
  });
}

function checkAnnotations(p: LoadedPolicy): void {
  const delta = p.annotations.risk_delta;
  if (delta !== undefined && !/^[-+]?\d{1,9}$/.test(delta)) {
    throw fault(p.file, p.line, `policy ${p.id}: @risk_delta("${delta}") is not an integer`);
  }
}

/**
 * Parses and validates bundle files. Throws PolicyBundleError naming the file.
 * @throws {PolicyBundleError} naming the file and the problem (a Cedar syntax error, bad entities JSON)
 */
export function parseBundle(
  dir: string,
  files: Map<string, string>,
  limits: BundleLimits = {},
): Bundle {
  const policies: LoadedPolicy[] = [];
  let schema: string | undefined;
  let entities: cedar.EntityJson[] = [];
  // Before Cedar reads a policy: each is nested within its bounds, and they are not too many
  // (Cedar's reading them all blocks the service: about 14 s for 1 MiB of policies).
  const maxPolicies = limits.maxPolicies ?? DEFAULT_MAX_POLICIES;
  let count = 0;
  for (const [name, text] of files) {
    if (!name.endsWith(".cedar")) continue;
    const ends = checkNesting(name, text);
    if (count + ends.length > maxPolicies) {
      throw fault(
        name,
        ends[maxPolicies - count],
        `more than ${maxPolicies} policies in the bundle (setting max_policies)`,
      );
    }
    count += ends.length;
  }
  // The schema first, whatever its name: the entities are checked against it.
  for (const [name, text] of files) {
    if (!name.endsWith(".cedarschema")) continue;
    if (schema !== undefined) throw fault(name, undefined, "only one schema file is allowed");
    const size = new TextEncoder().encode(text).length;
    if (size > MAX_SCHEMA_BYTES) {
      throw fault(
        name,
        undefined,
        `a schema of ${size} bytes; at most ${MAX_SCHEMA_BYTES} are read`,
      );
    }
    checkNesting(name, text, false);
    const r = cedar.checkParseSchema(text);
    if (r.type === "failure") {
      throw fault(name, errorLine(text, r.errors), firstError(r.errors));
    }
    schema = text;
  }
  for (const [name, text] of files) {
    if (name.endsWith(".cedar")) policies.push(...splitPolicies(name, text));
    else if (name === ENTITIES_FILE) {
      try {
        entities = JSON.parse(text);
      } catch (err) {
        const line = /\(line (\d+) column \d+\)/.exec(errorMessage(err))?.[1];
        const at = line === undefined ? undefined : Number(line);
        throw fault(name, at, `not JSON: ${errorMessage(err)}`, err);
      }
      if (!Array.isArray(entities)) {
        throw fault(name, undefined, "expected a JSON array of Cedar entities");
      }
      if (jsonDepth(entities) > MAX_POLICY_NESTING) {
        throw fault(name, undefined, `nested deeper than ${MAX_POLICY_NESTING} levels`);
      }
      // Before Cedar reads them: it works out the whole hierarchy as it does.
      checkAncestry(name, text, entities);
      const r = cedar.checkParseEntities({ entities, schema: schema ?? null });
      if (r.type === "failure") {
        const message = firstError(r.errors);
        throw fault(name, entityLine(text, entities, message), message);
      }
    }
  }
  if (policies.length === 0) throw fault(dir, undefined, "no policies (*.cedar) found");
  const seen = new Map<string, string>();
  for (const p of policies) {
    if (seen.has(p.id)) {
      throw fault(p.file, p.line, `policy id "${p.id}" is also used in ${seen.get(p.id)}`);
    }
    seen.set(p.id, p.file);
    checkAnnotations(p);
  }
  if (schema !== undefined) validateAgainst(schema, policies);
  return { dir, ref: bundleRef(files), policies, schema, entities };
}

/**
 * An entity uid's key, `Type::"id"`, as `entities.json` or a request may write the uid: `{type, id}`
 * or `{"__entity": {type, id}}`; undefined for anything else.
 */
export function uidKey(uid: unknown): string | undefined {
  const u = (uid as { __entity?: unknown } | null)?.__entity ?? uid;
  if (!u || typeof u !== "object") return undefined;
  const { type, id } = u as { type?: unknown; id?: unknown };
  return typeof type === "string" && typeof id === "string"
    ? `${type}::${JSON.stringify(id)}`
    : undefined;
}

/** The line each top-level element of a JSON array starts on (`text` is valid JSON). */
function elementLines(text: string): number[] {
  const lines: number[] = [];
  let depth = 0;
  let line = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\n") line++;
    else if (c === '"') {
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === "\\") i++;
    } else if (c === "[" || c === "{") {
      if (depth === 1) lines.push(line);
      depth++;
    } else if (c === "]" || c === "}") depth--;
  }
  return lines;
}

/** The line of the entity Cedar's error `message` names (`Type::"id"`), when it names one. */
function entityLine(text: string, entities: unknown[], message: string): number | undefined {
  const lines = elementLines(text);
  let best: { at: number; line: number } | undefined;
  entities.forEach((e, n) => {
    const key = uidKey((e as { uid?: unknown } | null)?.uid);
    const at = key === undefined ? -1 : message.indexOf(key);
    if (at >= 0 && lines[n] !== undefined && (best === undefined || at < best.at)) {
      best = { at, line: lines[n] };
    }
  });
  return best?.line;
}

/**
 * Refuses an entity hierarchy whose (entity, ancestor) pairs exceed
 * {@linkcode MAX_ENTITY_ANCESTORS}, counted before Cedar works them out (it would on every
 * decision). Each entity's ancestors are walked once; the count stops at the bound.
 */
function checkAncestry(file: string, text: string, entities: unknown[]): void {
  const parents = new Map<string, string[]>();
  for (const e of entities) {
    const { uid, parents: ps } = (e ?? {}) as { uid?: unknown; parents?: unknown };
    const key = uidKey(uid);
    if (key === undefined || !Array.isArray(ps)) continue;
    const list = parents.get(key) ?? [];
    for (const p of ps) {
      const pk = uidKey(p);
      if (pk !== undefined) list.push(pk);
    }
    parents.set(key, list);
  }
  let pairs = 0;
  for (const [n, e] of entities.entries()) {
    const start = uidKey((e as { uid?: unknown } | null)?.uid);
    if (start === undefined) continue;
    const seen = new Set<string>([start]);
    const todo = [...(parents.get(start) ?? [])];
    while (todo.length > 0) {
      const next = todo.pop()!;
      if (seen.has(next)) continue;
      seen.add(next);
      if (++pairs > MAX_ENTITY_ANCESTORS) {
        throw fault(
          file,
          elementLines(text)[n],
          `the entity hierarchy holds more than ${MAX_ENTITY_ANCESTORS} (entity, ancestor) ` +
            `pairs (at ${start}): Cedar works them out for every decision`,
        );
      }
      for (const p of parents.get(next) ?? []) if (!seen.has(p)) todo.push(p);
    }
  }
}

function validateAgainst(schema: string, policies: LoadedPolicy[]): void {
  const staticPolicies = Object.fromEntries(policies.map((p) => [p.id, p.text]));
  const r = cedar.validate({
    schema,
    policies: { staticPolicies },
    validationSettings: { mode: "strict" },
  });
  if (r.type === "failure") {
    throw new PolicyBundleError(harmless(`schema: ${firstError(r.errors)}`));
  }
  const e = r.validationErrors[0];
  if (e) {
    const p = policies.find((p) => p.id === e.policyId);
    const start = e.error.sourceLocations?.[0]?.start;
    const line = p?.line === undefined
      ? undefined
      : start === undefined
      ? p.line
      : p.line + lineAt(p.text, start) - 1;
    throw fault(
      p?.file ?? "?",
      line,
      `policy ${e.policyId} fails validation: ${e.error.message}`,
    );
  }
}

/** Reads and parses a bundle directory. */
export async function loadBundle(dir: string, limits: BundleLimits = {}): Promise<Bundle> {
  return parseBundle(dir, await readBundleFiles(dir), limits);
}
