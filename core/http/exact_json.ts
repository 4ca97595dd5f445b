/**
 * Exact JSON request bodies (the audit ledger's appends, the policy's intents): parses raw body
 * bytes and refuses, naming the field, any value the ledger could not store and sign exactly as
 * the client sent it. `JSON.parse` over
 * `TextDecoder` text would silently turn invalid UTF-8 into U+FFFD, keep the last of two
 * duplicate keys, round integers beyond 2^53 and let `__proto__` be dropped later.
 *
 * Refused (400 at the HTTP edge): bytes that are not UTF-8; lone UTF-16 surrogates written as
 * `\uD800` escapes; duplicate member names; the member name `__proto__` (anywhere: a JavaScript
 * object cannot hold it reliably, so it is refused rather than risked); numbers whose decimal
 * value the ledger's number form (an IEEE double, written as RFC 8785 does) does not carry
 * exactly: `1e400`, `1e-400`, `9007199254740993`, `0.10000000000000000001`; nesting deeper
 * than the canonical form allows. Accepted and stored in canonical form because the value is
 * the same: `1.0` and `1e0` (as `1`), `-0` (as `0`), `0.1` (as `0.1`).
 * @module
 */
import { HttpError } from "../errors/mod.ts";
import { MAX_CANONICAL_DEPTH } from "../encoding/mod.ts";

/** Input the ledger cannot store exactly; `path` is the field's JSON path (`$` is the root). */
export class ExactJsonError extends Error {
  override name = "ExactJsonError";
  /**
   * @param path JSON path of the offending field, e.g. `$.payload.items[2]`
   * @param reason what is wrong with it (never the value itself)
   */
  constructor(readonly path: string, readonly reason: string) {
    super(`${path}: ${reason}`);
  }
}

/** Thrown inside the parser at the end of the text; carries the path reached. */
class EndOfText extends Error {}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/** One step of a JSON path. */
type Step = string | number;

function pathText(steps: readonly Step[]): string {
  let out = "$";
  for (const s of steps) {
    out += typeof s === "number"
      ? `[${s}]`
      : IDENTIFIER.test(s)
      ? `.${s}`
      : `[${JSON.stringify(s.toWellFormed())}]`;
  }
  return out;
}

/**
 * Decimal digits and exponent of a JSON number literal with no leading or trailing zeros:
 * equal results mean equal values. Zero (of either sign) is `"0e0"`.
 */
function decimalOf(literal: string): string {
  let s = literal;
  let negative = false;
  if (s[0] === "-") {
    negative = true;
    s = s.slice(1);
  }
  let exp = 0;
  const e = s.search(/[eE]/);
  if (e >= 0) {
    exp = Number(s.slice(e + 1));
    s = s.slice(0, e);
  }
  const dot = s.indexOf(".");
  if (dot >= 0) {
    exp -= s.length - dot - 1;
    s = s.slice(0, dot) + s.slice(dot + 1);
  }
  s = s.replace(/^0+/, "");
  if (s === "") return "0e0";
  const trailing = s.length - s.replace(/0+$/, "").length;
  return `${negative ? "-" : ""}${s.slice(0, s.length - trailing)}e${exp + trailing}`;
}

/** A recursive-descent JSON parser over a string that records the path it is at. */
class Parser {
  i = 0;
  readonly steps: Step[] = [];

  /**
   * @param text the JSON text
   * @param maxDepth deepest nesting accepted
   * @param partial the text is a prefix: running into its end is never a complete value
   */
  constructor(readonly text: string, readonly maxDepth: number, readonly partial = false) {}

  fail(reason: string): never {
    throw new ExactJsonError(pathText(this.steps), reason);
  }

  space(): void {
    const t = this.text;
    for (;;) {
      const c = t.charCodeAt(this.i);
      if (c !== 32 && c !== 9 && c !== 10 && c !== 13) return;
      this.i++;
    }
  }

  peek(): number {
    if (this.i >= this.text.length) throw new EndOfText();
    return this.text.charCodeAt(this.i);
  }

  value(depth: number): unknown {
    this.space();
    const c = this.peek();
    if (c === 123) return this.object(depth + 1);
    if (c === 91) return this.array(depth + 1);
    if (c === 34) return this.string();
    if (c === 45 || (c >= 48 && c <= 57)) return this.number();
    for (const [word, v] of [["true", true], ["false", false], ["null", null]] as const) {
      if (this.text.startsWith(word, this.i)) {
        this.i += word.length;
        return v;
      }
    }
    if (word(this.text, this.i)) throw new EndOfText();
    return this.fail("not JSON");
  }

  object(depth: number): Record<string, unknown> {
    if (depth > this.maxDepth) this.fail(`nested deeper than ${this.maxDepth} levels`);
    this.i++;
    const out: Record<string, unknown> = {};
    this.space();
    if (this.peek() === 125) {
      this.i++;
      return out;
    }
    for (;;) {
      this.space();
      if (this.peek() !== 34) this.fail("expected a member name");
      const key = this.string();
      this.steps.push(key);
      if (key === "__proto__") this.fail("the member name __proto__ is not accepted");
      if (Object.hasOwn(out, key)) this.fail("duplicate member name");
      this.space();
      if (this.peek() !== 58) this.fail("expected ':'");
      this.i++;
      out[key] = this.value(depth);
      this.steps.pop();
      this.space();
      const c = this.peek();
      this.i++;
      if (c === 125) return out;
      if (c !== 44) {
        this.i--;
        this.fail("expected ',' or '}'");
      }
    }
  }

  array(depth: number): unknown[] {
    if (depth > this.maxDepth) this.fail(`nested deeper than ${this.maxDepth} levels`);
    this.i++;
    const out: unknown[] = [];
    this.space();
    if (this.peek() === 93) {
      this.i++;
      return out;
    }
    for (;;) {
      this.steps.push(out.length);
      out.push(this.value(depth));
      this.steps.pop();
      this.space();
      const c = this.peek();
      this.i++;
      if (c === 93) return out;
      if (c !== 44) {
        this.i--;
        this.fail("expected ',' or ']'");
      }
    }
  }

  string(): string {
    const t = this.text;
    let i = ++this.i;
    let run = i;
    let out = "";
    for (;;) {
      if (i >= t.length) {
        this.i = i;
        throw new EndOfText();
      }
      const c = t.charCodeAt(i);
      if (c === 34) {
        this.i = i + 1;
        return out + t.slice(run, i);
      }
      if (c === 92) {
        out += t.slice(run, i);
        this.i = i;
        out += this.escape();
        i = run = this.i;
        continue;
      }
      if (c < 32) {
        this.i = i;
        this.fail("control character in a string");
      }
      i++;
    }
  }

  /** One escape at `i` (a backslash); surrogate escapes must come as a valid pair. */
  escape(): string {
    const t = this.text;
    const e = t.charCodeAt(this.i + 1);
    if (Number.isNaN(e)) throw new EndOfText();
    this.i += 2;
    switch (e) {
      case 34:
        return '"';
      case 92:
        return "\\";
      case 47:
        return "/";
      case 98:
        return "\b";
      case 102:
        return "\f";
      case 110:
        return "\n";
      case 114:
        return "\r";
      case 116:
        return "\t";
      case 117: {
        const unit = this.hex4();
        if (unit >= 0xdc00 && unit <= 0xdfff) this.fail("lone UTF-16 surrogate");
        if (unit < 0xd800 || unit > 0xdbff) return String.fromCharCode(unit);
        if (t.charCodeAt(this.i) !== 92 || t.charCodeAt(this.i + 1) !== 117) {
          if (this.i + 1 >= t.length) throw new EndOfText();
          this.fail("lone UTF-16 surrogate");
        }
        this.i += 2;
        const low = this.hex4();
        if (low < 0xdc00 || low > 0xdfff) this.fail("lone UTF-16 surrogate");
        return String.fromCharCode(unit, low);
      }
      default:
        return this.fail("invalid escape in a string");
    }
  }

  hex4(): number {
    const digits = this.text.slice(this.i, this.i + 4);
    if (digits.length < 4) throw new EndOfText();
    if (!/^[0-9a-fA-F]{4}$/.test(digits)) this.fail("invalid \\u escape");
    this.i += 4;
    return parseInt(digits, 16);
  }

  number(): number {
    NUMBER.lastIndex = this.i;
    const m = NUMBER.exec(this.text);
    if (m === null && this.partial && this.i + 1 >= this.text.length) throw new EndOfText();
    if (m === null) this.fail("not a JSON number");
    const literal = m[0];
    this.i += literal.length;
    // In a prefix, a number that reaches the end may go on in the bytes that follow.
    if (this.partial && this.i >= this.text.length) throw new EndOfText();
    const value = Number(literal);
    if (!Number.isFinite(value)) this.fail("number out of range");
    if (decimalOf(literal) !== decimalOf(JSON.stringify(value))) {
      this.fail("number cannot be stored exactly (a double holds about 15-17 digits)");
    }
    return value;
  }
}

/** True when `text` at `i` is a prefix of a literal cut off by the end of the text. */
function word(text: string, i: number): boolean {
  const rest = text.slice(i);
  return rest.length < 5 && ["true", "false", "null"].some((w) => w.startsWith(rest));
}

/** Index of the first byte that breaks UTF-8 in `b` (b is known not to be valid UTF-8). */
function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    const n = c < 0x80
      ? 1
      : c >= 0xc2 && c <= 0xdf
      ? 2
      : c >= 0xe0 && c <= 0xef
      ? 3
      : c >= 0xf0 && c <= 0xf4
      ? 4
      : 0;
    if (n === 0 || i + n > b.length) return i;
    const second = b[i + 1];
    if (n >= 2) {
      const lo = c === 0xe0 ? 0xa0 : c === 0xf0 ? 0x90 : 0x80;
      const hi = c === 0xed ? 0x9f : c === 0xf4 ? 0x8f : 0xbf;
      if (second < lo || second > hi) return i;
      for (let k = 2; k < n; k++) if ((b[i + k] & 0xc0) !== 0x80) return i;
    }
    i += n;
  }
  return i;
}

/** Options for {@linkcode parseExactJson}. */
export interface ExactJsonOptions {
  /** Deepest nesting accepted; default the canonical form's bound. */
  maxDepth?: number;
}

/**
 * Parses UTF-8 JSON bytes, refusing what the ledger could not store exactly (see the module
 * doc). Objects come back as plain objects with their members in the order sent.
 *
 * @example
 * ```ts
 * parseExactJson(new TextEncoder().encode('{"a":1.0}')); // { a: 1 }
 * parseExactJson(new TextEncoder().encode('{"a":9007199254740993}')); // throws: $.a
 * ```
 * @throws {ExactJsonError} naming the field and the reason.
 */
export function parseExactJson(bytes: Uint8Array, opts: ExactJsonOptions = {}): unknown {
  const maxDepth = opts.maxDepth ?? MAX_CANONICAL_DEPTH;
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    // Parse what came before the bad byte to name the field it sits in.
    const p = new Parser(utf8.decode(bytes.subarray(0, at)), maxDepth, true);
    try {
      p.value(0);
    } catch (err) {
      if (!(err instanceof EndOfText)) throw err;
      throw new ExactJsonError(pathText(p.steps), `invalid UTF-8 at byte ${at}`);
    }
    throw new ExactJsonError("$", `invalid UTF-8 at byte ${at}`);
  }
  const p = new Parser(text, maxDepth);
  let value: unknown;
  try {
    value = p.value(0);
    p.space();
  } catch (err) {
    if (err instanceof EndOfText) {
      throw new ExactJsonError(pathText(p.steps), "JSON text cut short");
    }
    throw err;
  }
  if (p.i < text.length) throw new ExactJsonError("$", "data after the JSON value");
  return value;
}

/**
 * Reads a request body in full and parses it with {@linkcode parseExactJson}: for HTTP
 * handlers that store or sign what they receive. A body that cannot be read (cut short, reset)
 * or parsed exactly is a 400 naming the field.
 *
 * @example
 * ```ts
 * app.post("/audit", async (c) => c.json(await readExactJson(c.req.raw)));
 * ```
 * @throws {HttpError} 400 with `{ field }` (a JSON path) for anything refused; an HttpError the
 * body reader raised (e.g. 413) as it is.
 */
export async function readExactJson(req: Request, opts: ExactJsonOptions = {}): Promise<unknown> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await req.arrayBuffer());
  } catch (err) {
    if (err instanceof HttpError) throw err;
    throw new HttpError(400, "request body could not be read in full", { field: "$" }, {
      cause: err,
    });
  }
  try {
    return parseExactJson(bytes, opts);
  } catch (err) {
    if (!(err instanceof ExactJsonError)) throw err;
    throw new HttpError(400, err.message, { field: err.path }, { cause: err });
  }
}
