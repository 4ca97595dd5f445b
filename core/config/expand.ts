/**
 * Config file helpers: `${VAR}` / `${VAR:-default}` expansion in string values (bounded; an
 * unset variable is an error naming it), the vocabulary of tolerated keys, and the did-you-mean
 * suggestion for an unknown key.
 * @module
 */

/** Longest string a value may grow to by expansion. */
const MAX_EXPANDED_CHARS = 64 * 1024;
/** Most `${...}` references expanded in one file. */
const MAX_EXPANSIONS = 1000;

/** Expansion settings of a config. */
export interface ExpandOptions {
  /** Reads a variable; undefined when unset or not permitted. */
  env: (name: string) => string | undefined;
  /**
   * Names also written `{NAME}` (single braces, as some shipped templates do) and their values;
   * a value of undefined leaves the placeholder as written.
   */
  placeholders?: Record<string, () => string | undefined>;
  /** Appended to the unset-variable message (e.g. which variables the process may read). */
  hint?: string;
}

/** A `${VAR}` that has no value and no default. */
export class UnsetVariableError extends Error {
  override name = "UnsetVariableError";
  constructor(readonly variable: string, message: string) {
    super(message);
  }
}

/**
 * Expands one string value.
 * @throws {UnsetVariableError} naming the variable when it is unset and has no default, or
 * when the result would exceed {@linkcode MAX_EXPANDED_CHARS}.
 * @example
 * ```ts
 * expandString("a-${USER:-nobody}", { env: () => undefined }); // "a-nobody"
 * ```
 */
export function expandString(
  text: string,
  opts: ExpandOptions,
  budget = { left: MAX_EXPANSIONS },
): string {
  let out = text.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g,
    (_m, name: string, def: string | undefined) => {
      if (--budget.left < 0) {
        throw new UnsetVariableError(name, `more than ${MAX_EXPANSIONS} \${...} references`);
      }
      const v = opts.env(name) ?? opts.placeholders?.[name]?.();
      if (v !== undefined && v !== "") return v;
      if (def !== undefined) return def;
      throw new UnsetVariableError(
        name,
        `\${${name}} is not set and has no :-default${opts.hint ? ` (${opts.hint})` : ""}`,
      );
    },
  );
  for (const [name, value] of Object.entries(opts.placeholders ?? {})) {
    if (!out.includes(`{${name}}`)) continue;
    const v = value();
    if (v !== undefined) out = out.replaceAll(`{${name}}`, v);
  }
  if (out.length > MAX_EXPANDED_CHARS) {
    throw new UnsetVariableError("", `expands to more than ${MAX_EXPANDED_CHARS} characters`);
  }
  return out;
}

/** True when `key` is tolerated: listed itself, or under a listed `prefix.*`. */
export function isTolerated(key: string, tolerated: ReadonlySet<string>): boolean {
  if (tolerated.has(key) || tolerated.has(`${key}.*`)) return true;
  const parts = key.split(".");
  for (let i = parts.length - 1; i > 0; i--) {
    if (tolerated.has(`${parts.slice(0, i).join(".")}.*`)) return true;
  }
  return false;
}

function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length];
}

/**
 * The closest known name to an unknown one (edit distance at most 2, or one contains the
 * other), or undefined.
 * @example
 * ```ts
 * didYouMean("hearbeat", ["heartbeat", "name"]); // "heartbeat"
 * ```
 */
export function didYouMean(name: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const k of known) {
    const d = distance(name.toLowerCase(), k.toLowerCase());
    if (d < bestD) [best, bestD] = [k, d];
  }
  if (best) return best;
  for (const k of known) {
    if (name.length >= 4 && (k.includes(name) || name.includes(k)) && k.length >= 4) return k;
  }
  return undefined;
}
