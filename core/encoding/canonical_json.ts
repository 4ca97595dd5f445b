/**
 * RFC 8785 JSON Canonicalization Scheme (JCS): the exact bytes a ledger entry hashes to and a
 * signed manifest covers, so any independent tool can recompute them from the JSON.
 * @module
 */

/** Deepest nesting canonicalized; deeper input is rejected rather than risking the stack. */
export const MAX_CANONICAL_DEPTH = 64;

/** Input that has no RFC 8785 form (non-finite number, lone surrogate, too deep, not JSON). */
export class CanonicalJsonError extends Error {
  override name = "CanonicalJsonError";
}

/**
 * The RFC 8785 canonical JSON text of a JSON value: object keys sorted by UTF-16 code units,
 * numbers in ECMAScript shortest form, strings escaped as JSON.stringify does, no whitespace.
 * An object member whose value is `undefined` is left out (as JSON.stringify does).
 *
 * @throws {CanonicalJsonError} for a non-finite number, a lone surrogate in a string or key,
 * `undefined` or a function, bigint or symbol where a value is due, or nesting deeper than
 * {@linkcode MAX_CANONICAL_DEPTH}
 * @example
 * ```ts
 * canonicalize({ b: 1, a: [true, "x"] }); // '{"a":[true,"x"],"b":1}'
 * ```
 */
export function canonicalize(value: unknown): string {
  return write(value, 0, "$");
}

function write(value: unknown, depth: number, path: string): string {
  if (depth > MAX_CANONICAL_DEPTH) {
    throw new CanonicalJsonError(`${path}: nested deeper than ${MAX_CANONICAL_DEPTH} levels`);
  }
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isFinite(value)) throw new CanonicalJsonError(`${path}: non-finite number`);
      // ECMAScript Number-to-String is exactly the RFC 8785 number form (and -0 prints as 0).
      return JSON.stringify(value);
    case "string":
      if (!value.isWellFormed()) throw new CanonicalJsonError(`${path}: lone UTF-16 surrogate`);
      return JSON.stringify(value);
    case "object":
      break;
    default:
      throw new CanonicalJsonError(`${path}: ${typeof value} is not a JSON value`);
  }
  if (Array.isArray(value)) {
    const parts = new Array<string>(value.length);
    for (let i = 0; i < value.length; i++) parts[i] = write(value[i], depth + 1, `${path}[${i}]`);
    return `[${parts.join(",")}]`;
  }
  const obj = value as Record<string, unknown>;
  // Default sort compares UTF-16 code units, which is what RFC 8785 section 3.2.3 requires.
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
  const parts = new Array<string>(keys.length);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    if (!k.isWellFormed()) throw new CanonicalJsonError(`${path}: key with a lone surrogate`);
    parts[i] = `${JSON.stringify(k)}:${write(obj[k], depth + 1, `${path}.${k}`)}`;
  }
  return `{${parts.join(",")}}`;
}
