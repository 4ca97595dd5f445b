/**
 * Typed configuration fields: each knows its check, how to coerce a string from an env var or a
 * flag, how to describe what it expects, and its env var and flag names. The checks are plain
 * functions (no zod: every service parses its configuration at start, and zod alone holds about
 * 8 MB of an idle process); a {@linkcode custom} field takes any {@linkcode Validator}, a zod
 * schema included.
 * @module
 */
import { durationForms, formatBytes, formatDuration, parseBytes, parseDuration } from "./units.ts";

/**
 * One configuration leaf. `T` is the validated value type; `D` says whether the field has a
 * default, so a field without one reads as `T | undefined` (see {@linkcode Infer}).
 */
export interface Field<T, D extends boolean = boolean> {
  readonly kind: "field";
  /** Type-level only: whether the field has a default. */
  readonly hasDefault?: D;
  readonly help: string;
  readonly default: T | undefined;
  /** `false` for no env var; otherwise the scheme's name, `IATP_<COMMAND>_<KEY>`. */
  readonly env?: false;
  /**
   * The flag (no dashes): `false` for none; undefined derives it from the key. Set it where the
   * key's own name would differ from the same concept's flag elsewhere (`logging.level` is
   * `--log-level`, as on every service).
   */
  readonly flag?: string | false;
  /** Secret values are registered with the log scrubber and never printed. */
  readonly secret: boolean;
  /** Whether the flag is boolean-typed (`--x` / `--no-x`). */
  readonly boolean: boolean;
  /** Whether the flag may repeat (lists). */
  readonly multiple: boolean;
  /** What the value must be, for error messages: "an integer from 1 to 65535". */
  readonly expected: string;
  /** Placeholder for usage text: N, URL, PATH, ... */
  readonly metavar: string;
  readonly schema: Validator<T>;
  /** Converts a raw string (env, flag) or a YAML value to the typed value, or returns it unchanged. */
  coerce(raw: unknown): unknown;
  /** A value as the flag accepts it back (shell-quoted where it is text): `30s`, `"a,b"`, `8005`. */
  show(value: T): string;
  /**
   * The files and folders a value names, and the access each needs (the launcher grants exactly
   * these); undefined for a field that names none.
   */
  grants?(value: T): PathGrant[];
  /** True for a TCP port a service listens on (a busy port is reported by its setting). */
  readonly listenPort?: boolean;
  /**
   * True for a setting that also takes `file:PATH` (a credential): its value is read from that
   * file at start, and `iatp config check` reads it the same way.
   */
  readonly fileRef?: boolean;
}

/** How a path is used: read, or written (which includes reading it back). */
export type PathAccess = "read" | "write";

/** One file or folder a setting names, and the access it needs. */
export interface PathGrant {
  path: string;
  access: PathAccess;
}

/** The outcome of a {@linkcode Validator}: the value, or a failure (the field says what it expects). */
export type Checked<T> = { success: true; data: T } | { success: false };

/** Checks a value (a zod schema is one, structurally). */
export interface Validator<T> {
  safeParse(value: unknown): Checked<T>;
}

/**
 * A validator from a type guard.
 * @example
 * ```ts
 * const even = check((v): v is number => typeof v === "number" && v % 2 === 0);
 * even.safeParse(4); // { success: true, data: 4 }
 * ```
 */
export function check<T>(ok: (value: unknown) => value is T): Validator<T> {
  return { safeParse: (value) => ok(value) ? { success: true, data: value } : { success: false } };
}

/**
 * The length of a string in characters (Unicode code points: an emoji is one, not two UTF-16
 * units), as every length bound of a setting counts it.
 * @example
 * ```ts
 * textLength("abc"); // 3
 * textLength("😀😀"); // 2
 * ```
 */
export function textLength(text: string): number {
  let n = text.length;
  for (let i = 0; i < text.length - 1; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/** A string within optional length bounds (characters) matching an optional pattern. */
function isStr(value: unknown, min?: number, max?: number, pattern?: RegExp): value is string {
  if (typeof value !== "string") return false;
  const length = min === undefined && max === undefined ? 0 : textLength(value);
  if (min !== undefined && length < min) return false;
  if (max !== undefined && length > max) return false;
  if (pattern) pattern.lastIndex = 0;
  return pattern === undefined || pattern.test(value);
}

/** A finite number (a safe integer with `integer`) within optional inclusive bounds. */
function isNum(value: unknown, integer: boolean, min?: number, max?: number): value is number {
  if (typeof value !== "number" || !Number.isFinite(value)) return false;
  if (integer && !Number.isSafeInteger(value)) return false;
  return (min === undefined || value >= min) && (max === undefined || value <= max);
}

/** A nested group of fields (a YAML mapping). */
export interface Section<S extends Shape> {
  readonly kind: "section";
  readonly fields: S;
}

/** The fields and sections of a config. */
export type Shape = { [key: string]: Field<unknown> | Section<Shape> };

/**
 * The validated config type for a shape: a field's type, or `T | undefined` for a field with no
 * default (unset in every layer, it is absent).
 */
export type Infer<S extends Shape> = {
  [K in keyof S]: S[K] extends Field<infer T, infer D> ? (D extends true ? T : T | undefined)
    : S[K] extends Section<infer I> ? Infer<I>
    : never;
};

/** Whether options `O` give a default: `true` or `false` at the type level. */
type HasDefault<O> = O extends { default: infer V } ? (undefined extends V ? false : true) : false;

/** Options common to every field builder. */
export interface FieldOptions<T> {
  help: string;
  default?: T;
  /** `false`: no env var (YAML or flag only). */
  env?: false;
  flag?: string | false;
  secret?: boolean;
  /** The paths a value names (see {@linkcode Field.grants}). */
  grants?: (value: T) => PathGrant[];
  /** The value may be `file:PATH` (see {@linkcode Field.fileRef}). */
  fileRef?: boolean;
}

function make<T, O extends FieldOptions<T>>(
  opts: O,
  schema: Validator<T>,
  expected: string,
  metavar: string,
  coerce: (raw: unknown) => unknown,
  extra: { boolean?: boolean; multiple?: boolean; show?: (value: T) => string } = {},
): Field<T, HasDefault<O>> {
  return {
    kind: "field",
    help: opts.help,
    default: opts.default,
    env: opts.env,
    flag: opts.flag,
    secret: opts.secret ?? false,
    boolean: extra.boolean ?? false,
    multiple: extra.multiple ?? false,
    expected,
    metavar,
    schema,
    coerce,
    show: extra.show ?? ((v) => JSON.stringify(v)),
    grants: opts.grants,
    ...(opts.fileRef ? { fileRef: true } : {}),
  };
}

/**
 * The file a `file:PATH` value names (credential settings take their value from a file so it
 * never shows in `ps` or a shell history), as a read grant.
 * @example
 * ```ts
 * fileRefGrants("file:/run/iatp/relay.token"); // [{ path: "/run/iatp/relay.token", access: "read" }]
 * fileRefGrants("s3cr3t-token"); // []
 * ```
 */
export function fileRefGrants(value: string): PathGrant[] {
  return value.startsWith("file:") && value.length > 5
    ? [{ path: value.slice(5), access: "read" }]
    : [];
}

const identity = (raw: unknown) => raw;
const isString = (v: unknown): v is string => typeof v === "string";

function isHttpUrl(v: unknown): v is string {
  if (typeof v !== "string") return false;
  try {
    const u = new URL(v);
    return u.protocol === "http:" || u.protocol === "https:";
  } catch {
    return false;
  }
}

function toNumber(raw: unknown): unknown {
  if (typeof raw !== "string") return raw;
  const t = raw.trim();
  return t !== "" && /^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(t) ? Number(t) : raw;
}

/** A string field; `fileRef` marks a setting that also takes `file:PATH` (the launcher grants it). */
export function str<
  O extends FieldOptions<string> & {
    pattern?: RegExp;
    minLength?: number;
    maxLength?: number;
    fileRef?: boolean;
    expected?: string;
  },
>(opts: O): Field<string, HasDefault<O>> {
  const s = check((v): v is string => isStr(v, opts.minLength, opts.maxLength, opts.pattern));
  const expected = opts.expected ??
    (opts.pattern
      ? `a string matching ${opts.pattern}`
      : opts.minLength
      ? `a string of at least ${opts.minLength} characters`
      : "a string");
  const withRefs = opts.fileRef && !opts.grants ? { ...opts, grants: fileRefGrants } : opts;
  return make(withRefs, s, expected, "STR", identity);
}

/**
 * What a PATH setting expects. No shell reads a config file, a unit's `Environment=` or a
 * container's `-e`, and iatp does not expand `~` either: `~/x` would be a folder named `~` in the
 * working folder, so a leading `~` is refused.
 */
export const HOME_UNEXPANDED = "a path (a leading ~ is not expanded: write the home folder out)";

/**
 * A file or folder path (metavar PATH). `access` says what the service does with it: `read`,
 * or `write` (create, append, replace; reading it back included). The launcher grants that
 * path alone with that access, and the folder it sits in when that folder does not exist yet.
 * `siblings` are suffixes of files written beside it (a rotated `.1`, a derived `.key`).
 */
export function path<
  O extends FieldOptions<string> & { access: PathAccess; siblings?: readonly string[] },
>(opts: O): Field<string, HasDefault<O>> {
  const grants = opts.grants ??
    ((value: string): PathGrant[] =>
      value === "" ? [] : [value, ...(opts.siblings ?? []).map((s) => value + s)].map((p) => ({
        path: p,
        access: opts.access,
      })));
  return make(
    { ...opts, grants },
    check((v): v is string => isString(v) && !v.startsWith("~")),
    HOME_UNEXPANDED,
    "PATH",
    (raw) => raw,
  );
}

/** An integer field with optional bounds. */
export function int<O extends FieldOptions<number> & { min?: number; max?: number }>(
  opts: O,
): Field<number, HasDefault<O>> {
  const s = check((v): v is number => isNum(v, true, opts.min, opts.max));
  const range = opts.min !== undefined && opts.max !== undefined
    ? ` from ${opts.min} to ${opts.max}`
    : opts.min !== undefined
    ? ` >= ${opts.min}`
    : opts.max !== undefined
    ? ` <= ${opts.max}`
    : "";
  return make(opts, s, `an integer${range}`, "N", toNumber);
}

/** A number field with optional bounds. */
export function num<O extends FieldOptions<number> & { min?: number; max?: number }>(
  opts: O,
): Field<number, HasDefault<O>> {
  const s = check((v): v is number => isNum(v, false, opts.min, opts.max));
  const range = opts.min !== undefined && opts.max !== undefined
    ? ` from ${opts.min} to ${opts.max}`
    : "";
  return make(opts, s, `a number${range}`, "X", toNumber);
}

/** A TCP port (0 picks a free port). */
export function port<O extends FieldOptions<number>>(opts: O): Field<number, HasDefault<O>> {
  return { ...int({ ...opts, min: 0, max: 65535 }), listenPort: true };
}

const TRUE = new Set(["true", "1", "yes", "on"]);
const FALSE = new Set(["false", "0", "no", "off"]);

/** A boolean field: true/false, 1/0, yes/no, on/off. */
export function bool<O extends FieldOptions<boolean>>(opts: O): Field<boolean, HasDefault<O>> {
  return make(
    opts,
    check((v): v is boolean => typeof v === "boolean"),
    "a boolean (true/false)",
    "BOOL",
    (raw) => {
      if (typeof raw !== "string") return raw;
      const t = raw.trim().toLowerCase();
      return TRUE.has(t) ? true : FALSE.has(t) ? false : raw;
    },
    { boolean: true },
  );
}

/** One of a fixed set of strings. */
export function oneOf<
  const V extends readonly [string, ...string[]],
  O extends FieldOptions<V[number]> = FieldOptions<V[number]>,
>(values: V, opts: O): Field<V[number], HasDefault<O>> {
  return make(
    opts,
    check((v): v is V[number] => typeof v === "string" && values.includes(v)),
    `one of ${values.join("|")}`,
    values.join("|"),
    (raw) => typeof raw === "string" ? raw.trim() : raw,
  );
}

/**
 * The longest duration a setting takes by default: 24 days. Such a setting arms a timer (a wait,
 * a deadline, an interval), and a timer waits at most 2^31 - 1 ms (about 24.8 days): a longer one
 * fires after 1 ms instead, so `30d` meant as "rarely" would run every millisecond.
 */
export const MAX_TIMER_MS = 24 * 86_400_000;

/**
 * The longest age, lifetime or window that is compared with timestamps or handed to another
 * system (a retention age, a Redis TTL, a session's lifetime), not waited for: 100 years, as a
 * credential's longest `--ttl`.
 */
export const MAX_AGE_MS = 876_000 * 3_600_000;

/** A bound for the error text: whole days as `24d`, else as {@linkcode formatDuration}. */
function formatBound(ms: number): string {
  return ms > 86_400_000 && ms % 86_400_000 === 0 ? `${ms / 86_400_000}d` : formatDuration(ms);
}

/**
 * A duration, written `500ms`, `30s`, `5m` or `1h`; the value is in milliseconds. With `min` and
 * `offOrMin`, `0` (off) is allowed besides `min` and above. `max` defaults to
 * {@linkcode MAX_TIMER_MS}: a setting that is not waited for (an age compared with timestamps, a
 * TTL another system keeps) says so with a larger one, {@linkcode MAX_AGE_MS}.
 */
export function duration<
  O extends FieldOptions<number> & { min?: number; max?: number; offOrMin?: boolean },
>(
  opts: O,
): Field<number, HasDefault<O>> {
  const max = opts.max ?? MAX_TIMER_MS;
  const s = check((v): v is number =>
    isNum(v, true, opts.min ?? 0, max) || (opts.offOrMin === true && v === 0)
  );
  const range = ` (${opts.min ? `at least ${formatDuration(opts.min)}, ` : ""}at most ${
    formatBound(max)
  })`;
  return make(
    opts,
    s,
    // "0" turns a setting off only where the range allows it.
    durationForms(opts.min, max) + (opts.min && !opts.offOrMin ? "" : " (0 for none)") + range,
    "DURATION",
    (raw) => typeof raw === "string" ? parseDuration(raw) ?? raw : raw,
    { show: formatDuration },
  );
}

/** A size in bytes: an integer or `64KiB`, `1MiB`, `10MB`. */
export function bytes<O extends FieldOptions<number> & { min?: number; max?: number }>(
  opts: O,
): Field<number, HasDefault<O>> {
  const s = check((v): v is number => isNum(v, true, opts.min ?? 0, opts.max));
  return make(
    opts,
    s,
    `a size such as 65536, 64KiB or 1MiB${opts.min ? ` (at least ${formatBytes(opts.min)})` : ""}`,
    "SIZE",
    (raw) => typeof raw === "string" ? parseBytes(raw) ?? raw : raw,
    { show: formatBytes },
  );
}

/**
 * A host name, IPv4 address or IPv6 address (bare or in brackets) that a service listens on: a
 * `host:port` value is refused at parse time, naming the setting, instead of failing the bind.
 */
export const HOST_PATTERN =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[?[0-9A-Fa-f.]*:[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*\]?)$/;

/** An address to listen on (see {@linkcode HOST_PATTERN}). */
export function host<O extends FieldOptions<string>>(opts: O): Field<string, HasDefault<O>> {
  return str({
    ...opts,
    pattern: HOST_PATTERN,
    expected: "a host name, an IPv4 or an IPv6 address, without a port (the port is its own " +
      "setting)",
  });
}

/** An http(s) URL. */
export function url<O extends FieldOptions<string>>(opts: O): Field<string, HasDefault<O>> {
  return make(
    opts,
    check(isHttpUrl),
    "an http(s) URL",
    "URL",
    (raw) => typeof raw === "string" ? raw.trim() : raw,
  );
}

/** A list of strings: a YAML sequence, a repeated flag, or a comma-separated string. */
export function list<
  O extends FieldOptions<string[]> & { item?: RegExp; itemWhat?: string; fileRef?: boolean },
>(
  opts: O,
): Field<string[], HasDefault<O>> {
  const item = opts.item;
  const isItem = (v: unknown) => item ? isStr(v, undefined, undefined, item) : isStr(v, 1);
  const grants = opts.grants ??
    (opts.fileRef ? (v: string[]) => v.flatMap((item) => fileRefGrants(item)) : undefined);
  return make(
    { ...opts, grants },
    check((v): v is string[] => Array.isArray(v) && v.every(isItem)),
    opts.itemWhat !== undefined
      ? `a list of ${opts.itemWhat}`
      : opts.item
      ? `a list of strings matching ${opts.item}`
      : "a list of non-empty strings",
    "LIST",
    (raw) => {
      if (typeof raw === "string") return splitList(raw);
      if (Array.isArray(raw)) return raw.flatMap((v) => typeof v === "string" ? splitList(v) : [v]);
      return raw;
    },
    { multiple: true, show: (v) => JSON.stringify(v.join(",")) },
  );
}

function splitList(text: string): string[] {
  return text.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

/**
 * A field holding any JSON/YAML value checked by a custom validator (a zod schema, or
 * {@linkcode check}): YAML only (no flag), and with `jsonEnv` also its env var, holding JSON.
 */
export function custom<T, O extends FieldOptions<T> & { expected: string; jsonEnv?: boolean }>(
  schema: Validator<T>,
  opts: O,
): Field<T, HasDefault<O>> {
  const env = opts.jsonEnv ? undefined : false;
  return make({ env, flag: false, ...opts }, schema, opts.expected, "VALUE", (raw) => {
    if (typeof raw !== "string") return raw;
    try {
      return JSON.parse(raw);
    } catch {
      return raw;
    }
  });
}

/** A nested YAML section. */
export function section<S extends Shape>(fields: S): Section<S> {
  return { kind: "section", fields };
}
