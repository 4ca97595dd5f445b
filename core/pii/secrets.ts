/**
 * Secret members in JSON text, found during the PII scanner's walk: after a member name the
 * key rule calls secret, the whole value (string, number, object or array) is one span. The
 * scanner reports string ends and nesting; this tracker turns them into spans. Offsets are
 * byte offsets into the UTF-8 text the scanner walks.
 * @module
 */
import { COLON, isJsonSpace, memberName, QUOTE, wordView } from "./chars.ts";

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

const NO_BYTES = new Uint8Array(0);
const NO_VIEW = new DataView(NO_BYTES.buffer);
/** Masks keeping the first 0-3 bytes of a little-endian word. */
const LOW_BYTES = [0, 0xff, 0xffff, 0xffffff];

/** Verdicts remembered per key rule (a power of 2). */
const MEMO_SLOTS = 128;
/** Longest raw member name (bytes) whose verdict is remembered; longer ones are always judged. */
const MEMO_NAME_BYTES = 64;
/** The slot-like index that stands for the start of a walk (what name comes first). */
const START = MEMO_SLOTS;

/**
 * The key rule's verdicts on raw member names (the bytes between the quotes), so a name seen
 * before costs a hash and a byte compare instead of a decode and the rule. The raw bytes decide
 * the decoded name, so a remembered verdict is the rule's verdict, escapes included. A name may
 * sit in either of two slots, so two frequent names that hash alike do not evict each other.
 *
 * It also remembers which two names followed each name (and began the walk) lately: in an
 * array of objects of one shape the next member name is predictable (after the last member of
 * an element comes either the first member of the next or the member after the array), and the
 * scanner compares a string's bytes with the predicted names instead of walking and judging
 * them (see {@linkcode SecretTracker.passName}).
 */
class KeyMemo {
  rule: (key: string) => boolean = () => false;
  /** Slot k holds a name in `names[k * MEMO_NAME_BYTES ..]`, `lengths[k]` bytes long (-1: none). */
  readonly names = new Uint8Array(MEMO_SLOTS * MEMO_NAME_BYTES);
  readonly lengths = new Int32Array(MEMO_SLOTS).fill(-1);
  readonly verdicts = new Uint8Array(MEMO_SLOTS);
  /**
   * What {@linkcode SecretTracker.passName} reads of slot k, together at `passes[k * 4 ..]`:
   * the name's length when it can be passed over when it is predicted (not secret, and plain
   * ASCII without a digit or a backslash: the scanner finds nothing in it, the grammar check
   * nothing to refuse), else -1; then its first 4 bytes (fewer: the rest 0) and its last 4
   * bytes, little-endian, to compare.
   */
  readonly passes = new Int32Array(MEMO_SLOTS * 4).fill(-1);
  /**
   * The slot of the name judged after this slot's name (at {@linkcode START}: first in the walk)
   * last time, and of the other name judged there before that (-1: none).
   */
  readonly follow = new Int16Array(MEMO_SLOTS + 1).fill(-1);
  readonly other = new Int16Array(MEMO_SLOTS + 1).fill(-1);
  /** The slot of the last name judged ({@linkcode START}: none yet; -1: a long name). */
  last = START;

  /** Starts a walk; starts over when the rule changes (verdicts belong to one rule). */
  use(rule: (key: string) => boolean): void {
    this.last = START;
    if (rule === this.rule) return;
    this.rule = rule;
    this.lengths.fill(-1);
    this.passes.fill(-1);
    this.follow.fill(-1);
    this.other.fill(-1);
  }

  /** The rule's verdict on the member name `b[start..end)`. */
  isSecret(b: Uint8Array, start: number, end: number): boolean {
    const slot = this.slotOf(b, start, end);
    if (slot < 0) return this.rule(memberName(b, start, end));
    const last = this.last;
    if (last >= 0 && this.follow[last] !== slot) {
      this.other[last] = this.follow[last];
      this.follow[last] = slot;
    }
    this.last = slot;
    return this.verdicts[slot] === 1;
  }

  /** The slot remembering the name `b[start..end)`, filled now if it was not; -1 if too long. */
  slotOf(b: Uint8Array, start: number, end: number): number {
    const len = end - start;
    if (len > MEMO_NAME_BYTES) return this.last = -1;
    // The slots come from the length and three bytes (first, middle, last): constant work per
    // name; names that share all four still each get their own verdict (compared in full).
    const h = len === 0 ? 0 : (len << 24) ^ (b[start] << 16) ^ (b[start + (len >> 1)] << 8) ^
      b[end - 1];
    const first = Math.imul(h, 0x9e3779b1) >>> 25;
    if (this.holds(first, b, start, len)) return first;
    const second = (Math.imul(h, 0x85ebca6b) >>> 25) ^ 1;
    if (this.holds(second, b, start, len)) return second;
    const slot = this.lengths[first] < 0 ? first : second;
    const secret = this.rule(memberName(b, start, end));
    this.verdicts[slot] = secret ? 1 : 0;
    this.names.set(b.subarray(start, end), slot * MEMO_NAME_BYTES);
    this.lengths[slot] = len;
    let passable = secret ? 0 : 1;
    for (let k = start; k < end; k++) {
      const c = b[k];
      // Only a name of plain ASCII is passed over: one the walk would find nothing in, and that
      // a check of the grammar, which it also skips, would take (no control character, escape
      // or byte beyond ASCII).
      if ((c >= 48 && c <= 57) || c === 92 || c < 0x20 || c >= 0x80) passable = 0;
    }
    let head = 0;
    let tail = 0;
    for (let k = 0; k < 4 && k < len; k++) head |= b[start + k] << (8 * k);
    for (let k = 0; k < 4 && len >= 4; k++) tail |= b[end - 4 + k] << (8 * k);
    const p = slot * 4;
    this.passes[p] = passable === 1 ? len : -1;
    this.passes[p + 1] = head;
    this.passes[p + 2] = tail;
    return slot;
  }

  /** True when `slot` remembers the name `b[start..start + len)`. */
  holds(slot: number, b: Uint8Array, start: number, len: number): boolean {
    if (this.lengths[slot] !== len) return false;
    const names = this.names;
    const base = slot * MEMO_NAME_BYTES;
    let k = 0;
    while (k < len && names[base + k] === b[start + k]) k++;
    return k === len;
  }
}

/** Follows one walk of JSON text; reused (scans are synchronous). */
export class SecretTracker {
  bytes: Uint8Array = NO_BYTES;
  /** End of the text within {@linkcode bytes}. */
  end = 0;
  spans: SecretSpan[] = [];
  readonly #memo = new KeyMemo();
  #mode = NONE;
  #start = 0;
  /** Nesting depth outside the secret object or array being skipped. */
  #depth = 0;
  /** {@linkcode bytes} read a word at a time. */
  #view: DataView<ArrayBufferLike> = NO_VIEW;

  /** Starts a walk of `bytes[0..end)` with the key rule `isSecret`. */
  reset(bytes: Uint8Array, end: number, isSecret: (key: string) => boolean): void {
    if (bytes !== this.bytes) {
      this.#view = wordView(bytes);
    }
    this.bytes = bytes;
    this.end = end;
    this.#memo.use(isSecret);
    this.spans = [];
    this.#mode = NONE;
  }

  /** Drops the text and spans of the last walk (the rule's remembered verdicts stay). */
  release(): void {
    this.bytes = NO_BYTES;
    this.#view = NO_VIEW;
    this.end = 0;
    this.spans = [];
  }

  /** True inside a secret value (every string end then matters, not only member names). */
  get inSecret(): boolean {
    return this.#mode !== NONE;
  }

  /**
   * Passes over the string opening at `open` when it is one of the two member names predicted
   * to follow the last one (or to come first in the walk), that name is not secret and is plain
   * ASCII without a digit or a backslash, a colon follows it right away and no secret value is
   * open: returns the index after that colon (the name is judged, as {@linkcode stringClosed}
   * would), else -1 and nothing changed.
   */
  passName(open: number): number {
    const memo = this.#memo;
    const last = memo.last;
    if (last < 0 || this.#mode !== NONE) return -1;
    const after = this.#passSlot(memo.follow[last], open);
    return after >= 0 ? after : this.#passSlot(memo.other[last], open);
  }

  /** {@linkcode passName} with the name in `slot` predicted (-1: none). */
  #passSlot(slot: number, open: number): number {
    if (slot < 0) return -1;
    const memo = this.#memo;
    const passes = memo.passes;
    const p = slot * 4;
    const len = passes[p];
    if (len < 0) return -1;
    const b = this.bytes;
    const close = open + 1 + len;
    if (close + 1 >= this.end || b[close] !== QUOTE || b[close + 1] !== COLON) return -1;
    if (len <= 8 && open + 5 <= this.#view.byteLength) {
      // Up to 8 bytes: a word or two (the first 4 and the last 4 may overlap), no byte loop
      // whose end depends on the name's length. A short name's word reads into `":` and past
      // it (masked off); a name of 0 or 1 byte at the very end of the buffer is compared by
      // the loop below, as a word there would read past the buffer.
      const head = this.#view.getInt32(open + 1, true);
      if (len < 4) {
        if ((head & LOW_BYTES[len]) !== passes[p + 1]) return -1;
      } else if (
        head !== passes[p + 1] || this.#view.getInt32(close - 4, true) !== passes[p + 2]
      ) {
        return -1;
      }
    } else {
      const names = memo.names;
      const base = slot * MEMO_NAME_BYTES - open - 1;
      for (let k = open + 1; k < close; k++) if (names[base + k] !== b[k]) return -1;
    }
    memo.last = slot;
    return close + 2;
  }

  /**
   * A string opened at `open` closed at `close`, at nesting `depth`: it ends a secret string,
   * or it is a member name that starts a secret value. Outside a secret value only a string a
   * colon follows (a member name) can matter.
   */
  stringClosed(open: number, close: number, depth: number): void {
    if (this.#mode === IN_STRING) return this.#add(this.#start, close + 1);
    if (this.#mode !== NONE) return; // inside a secret object: all of it goes
    const b = this.bytes;
    const n = this.end;
    let j = close + 1;
    while (j < n && isJsonSpace(b[j])) j++;
    if (j >= n || b[j] !== COLON) return;
    if (!this.#memo.isSecret(b, open + 1, close)) return;
    do j++; while (j < n && isJsonSpace(b[j]));
    const v = j < n ? b[j] : 0;
    if (v === QUOTE) {
      this.#mode = IN_STRING;
      this.#start = j;
    } else if (v === 123 || v === 91) {
      this.#mode = IN_NESTED;
      this.#start = j;
      this.#depth = depth;
    } else if (v === 45 || (v >= 48 && v <= 57)) {
      let e = j + 1;
      while (e < n && isNumberTail(b[e])) e++;
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
    if (this.#mode !== NONE) this.#add(this.#start, this.end);
  }

  #add(start: number, end: number): void {
    this.spans.push({ start, end });
    this.#mode = NONE;
  }
}
