/**
 * Scanning strings: the scanner reads UTF-8 bytes, callers hold strings. A string is encoded
 * for the scan (into a reused buffer when it is small) unless the caller has its bytes, and the
 * byte offsets the scan found are turned back into string (UTF-16) offsets, which costs nothing
 * for ASCII text.
 * @module
 */
import { scanUtf8 } from "./scan.ts";
import type { PiiSpan, ScanOptions, ScanResult, SecretSpan } from "./types.ts";

/** Longest string (UTF-16 units) encoded into the reused buffer; longer ones get their own. */
const SCRATCH_CHARS = 16 * 1024;
/** A UTF-16 unit takes at most 3 UTF-8 bytes (a surrogate pair takes 4 for 2 units). */
const scratch = new Uint8Array(SCRATCH_CHARS * 3);
const encoder = new TextEncoder();

/**
 * Longest string copied into the buffer by a loop here when it is ASCII: for short strings
 * (header values, ids, log fields) the native encoder's call costs more than the copy.
 */
const SHORT_CHARS = 256;

/** Copies an ASCII `text` into the scratch buffer; false (stopping early) when it is not ASCII. */
function copyAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128) return false;
    scratch[i] = c;
  }
  return true;
}

/** UTF-8 text to scan: `bytes[0..length)`. */
interface Encoded {
  bytes: Uint8Array;
  length: number;
}

/**
 * `text` as UTF-8. Small texts share one buffer, so the result is only valid until the next
 * call (scans are synchronous). Lone surrogates become U+FFFD (3 bytes, one unit, as before).
 */
function encodeText(text: string): Encoded {
  if (text.length <= SHORT_CHARS && copyAscii(text)) {
    return { bytes: scratch, length: text.length };
  }
  if (text.length <= SCRATCH_CHARS) {
    const { written } = encoder.encodeInto(text, scratch);
    return { bytes: scratch, length: written };
  }
  const bytes = encoder.encode(text);
  return { bytes, length: bytes.length };
}

/** What the byte `c` adds to bytes less units: 1 for a continuation byte, -1 from 0xf0 up. */
function byteExtra(c: number): number {
  return c < 0x80 ? 0 : c < 0xc0 ? 1 : c >= 0xf0 ? -1 : 0;
}

/**
 * The continuation bytes (10xxxxxx) of the little-endian word `w` less its bytes from 0xf0 up
 * (4-byte leads), as {@linkcode UnitCounter} counts them byte by byte: bit 7 of each lane is set
 * where the lane is one, from the lane's own bits only (a shift by 1-3 moves no other lane's bit
 * into bit 7), and the set bits are summed by a multiplication. `0xef94bcef` (the bytes
 * `ef bc 94 ef`: a full-width digit and the lead of the next) gives 2.
 */
function wordExtra(w: number): number {
  const cont = w & ~(w << 1) & 0x80808080;
  const four = w & (w << 1) & (w << 2) & (w << 3) & 0x80808080;
  return (Math.imul(cont >>> 7, 0x01010101) >>> 24) - (Math.imul(four >>> 7, 0x01010101) >>> 24);
}

/**
 * Walks UTF-8 bytes forward turning byte offsets (given in increasing order) into UTF-16
 * offsets. A character of k bytes is k - 1 units fewer than its bytes, except a 4-byte one (two
 * units): +1 per continuation byte, -1 per 4-byte lead. Where the bytes are word-aligned four
 * are counted at a time: an ASCII word with one test, any other with {@linkcode wordExtra}.
 */
class UnitCounter {
  byte = 0;
  /** Bytes so far minus units so far. */
  extra = 0;
  readonly words: Int32Array;
  /** Index into {@linkcode bytes} of the first word. */
  readonly first: number;

  constructor(readonly bytes: Uint8Array) {
    this.first = (4 - (bytes.byteOffset & 3)) & 3;
    const count = Math.max(0, (bytes.length - this.first) >> 2);
    this.words = new Int32Array(bytes.buffer, bytes.byteOffset + this.first, count);
  }

  at(offset: number): number {
    const b = this.bytes;
    const words = this.words;
    const first = this.first;
    let extra = this.extra;
    let k = this.byte;
    // Byte by byte up to a word boundary, a word at a time while a whole word lies before
    // `offset`, then byte by byte again.
    while (k < offset && (k < first || ((k - first) & 3) !== 0)) extra += byteExtra(b[k++]);
    if (k >= first) {
      let w = (k - first) >> 2;
      const last = Math.min(words.length, (offset - first) >> 2);
      for (; w < last; w++) {
        const word = words[w];
        if ((word & 0x80808080) !== 0) extra += wordExtra(word);
      }
      if (w << 2 > k - first) k = first + (w << 2);
    }
    while (k < offset) extra += byteExtra(b[k++]);
    this.byte = offset;
    this.extra = extra;
    return offset - extra;
  }
}

/**
 * Rewrites the byte offsets of `spans` and `secrets` (each sorted, as a scan returns them) as
 * UTF-16 offsets into the string `bytes` encodes. One forward walk per list.
 */
function toStringOffsets(bytes: Uint8Array, spans: PiiSpan[], secrets: SecretSpan[]): void {
  for (const list of [spans, secrets]) {
    if (list.length === 0) continue;
    const counter = new UnitCounter(bytes);
    for (const s of list) {
      s.start = counter.at(s.start);
      s.end = counter.at(s.end);
    }
  }
}

/** Whether a UTF-8 byte order mark starts at `b[at]`. */
function bomAt(b: Uint8Array, at: number): boolean {
  return b.length >= at + 3 && b[at] === 0xef && b[at + 1] === 0xbb && b[at + 2] === 0xbf;
}

/**
 * True when a decoder dropped the byte order mark `b` starts with from `text`: `text` then
 * starts with one mark fewer than `b` does (a decoder drops the first mark only, and none with
 * `ignoreBOM`; a body may carry two).
 */
function bomDropped(b: Uint8Array, text: string): boolean {
  let marks = 0;
  while (bomAt(b, marks * 3)) {
    if (text.charCodeAt(marks) !== 0xfeff) return true;
    marks++;
  }
  return false;
}

/**
 * Finds payment cards and SSNs in `text` in one linear pass. Offsets in the result are offsets
 * into `text`.
 *
 * `utf8`, when the caller has it, is the UTF-8 encoding `text` was decoded from (a leading byte
 * order mark the decoder dropped is allowed): the scan reads it instead of encoding `text`
 * again. It must encode exactly `text`, or the offsets are wrong.
 *
 * @example
 * ```ts
 * scanPii('{"card":"4532-0151-1283-0366"}', { json: true }).creditCards; // 1
 * ```
 */
export function scanPii(text: string, opts: ScanOptions = {}, utf8?: Uint8Array): ScanResult {
  let bytes: Uint8Array;
  let length: number;
  if (utf8 === undefined) {
    ({ bytes, length } = encodeText(text));
  } else {
    bytes = bomDropped(utf8, text) ? utf8.subarray(3) : utf8;
    length = bytes.length;
  }
  const ascii = length === text.length;
  const result = scanUtf8(bytes, length, opts, ascii);
  if (!ascii) toStringOffsets(bytes, result.spans, result.secrets);
  return result;
}

/**
 * {@linkcode scanPii} over UTF-8 bytes not known to be one JSON object, checking in the same
 * walk that they are: the scan (its offsets into the string the bytes decode to) and whether they
 * hold bytes beyond ASCII, or undefined when they are not one JSON object as a fatal UTF-8
 * decoder and `JSON.parse` read them, or the check cannot vouch for them (see
 * {@linkcode ScanOptions.checkObject}), or the scan stopped for depth: the caller then decodes
 * and parses them the long way, which also words the refusal.
 *
 * @example
 * ```ts
 * scanJsonObjectBytes(new TextEncoder().encode('{"n":"078-05-1120"}'), { json: true, checkObject: true })
 *   ?.ssns; // 1
 * scanJsonObjectBytes(new TextEncoder().encode("[1]"), { json: true, checkObject: true }); // undefined
 * ```
 */
export function scanJsonObjectBytes(
  utf8: Uint8Array,
  opts: ScanOptions & { json: true; checkObject: true },
): ScanResult | undefined {
  // Taken for ASCII until the walk meets a byte beyond it (see JsonGrammar.stringByte): the
  // context windows, which look back from where the walk is, then count characters.
  const result = scanUtf8(utf8, utf8.length, opts, true);
  if (!result.object || result.tooDeep) return undefined;
  if (result.wide) toStringOffsets(utf8, result.spans, result.secrets);
  return result;
}
