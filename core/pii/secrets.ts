/**
 * Secret members in JSON text, found during the PII scanner's walk: after a member name the
 * key rule calls secret, the whole value (string, number, object or array) is one span. The
 * scanner reports string ends and nesting; this tracker turns them into spans.
 * @module
 */
import { COLON, isJsonSpace, memberName, QUOTE } from "./chars.ts";

/** The value of a member whose key is secret: `text.slice(start, end)` is the whole value. */
export interface SecretSpan {
  start: number;
  end: number;
}

/** Not inside a secret value. */
const NONE = 0;
/** Inside a secret string value. */
const IN_STRING = 1;
/** Inside a secret object or array value. */
const IN_NESTED = 2;

/** Characters of a JSON number after its first one. */
function isNumberTail(c: number): boolean {
  return (c >= 48 && c <= 57) || c === 46 || c === 45 || c === 43 || c === 101 || c === 69;
}

/** Follows one walk of JSON text; reused (scans are synchronous). */
export class SecretTracker {
  text = "";
  isSecret: (key: string) => boolean = () => false;
  spans: SecretSpan[] = [];
  #mode = NONE;
  #start = 0;
  /** Nesting depth outside the secret object or array being skipped. */
  #depth = 0;

  /** Starts a walk of `text` with the key rule `isSecret`. */
  reset(text: string, isSecret: (key: string) => boolean): void {
    this.text = text;
    this.isSecret = isSecret;
    this.spans = [];
    this.#mode = NONE;
  }

  /**
   * A string opened at `open` closed at `close`, at nesting `depth`: it ends a secret string,
   * or it is a member name that starts a secret value.
   */
  stringClosed(open: number, close: number, depth: number): void {
    if (this.#mode === IN_STRING) return this.#add(this.#start, close + 1);
    if (this.#mode !== NONE) return; // inside a secret object: all of it goes
    const t = this.text;
    let j = close + 1;
    while (j < t.length && isJsonSpace(t.charCodeAt(j))) j++;
    if (t.charCodeAt(j) !== COLON) return;
    if (!this.isSecret(memberName(t.slice(open + 1, close)))) return;
    do j++; while (j < t.length && isJsonSpace(t.charCodeAt(j)));
    const v = t.charCodeAt(j);
    if (v === QUOTE) {
      this.#mode = IN_STRING;
      this.#start = j;
    } else if (v === 123 || v === 91) {
      this.#mode = IN_NESTED;
      this.#start = j;
      this.#depth = depth;
    } else if (v === 45 || (v >= 48 && v <= 57)) {
      let e = j + 1;
      while (e < t.length && isNumberTail(t.charCodeAt(e))) e++;
      this.#add(j, e);
    }
    // true, false and null say nothing: kept.
  }

  /** A `}` or `]` at `i` brought the nesting down to `depth`. */
  nestingClosed(depth: number, i: number): void {
    if (this.#mode === IN_NESTED && depth === this.#depth) this.#add(this.#start, i + 1);
  }

  /** The text ended: a secret value it ends inside is secret up to the end. */
  finish(): void {
    if (this.#mode !== NONE) this.#add(this.#start, this.text.length);
  }

  #add(start: number, end: number): void {
    this.spans.push({ start, end });
    this.#mode = NONE;
  }
}
