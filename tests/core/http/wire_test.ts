/**
 * `sameBytesAt` (core/http/wire), the comparison both head memos make four bytes at a time:
 * exact at every length (multiples of 4 or not), every offset, both buffer ends, and against a
 * view of a buffer that lies inside a larger one (on a word boundary, as words, or off one); and `putField`, which writes every head's
 * field lines: one byte per char at any length, remembered lines and secret fields alike.
 */
import assert from "node:assert/strict";
import {
  fieldLength,
  latin1Bytes,
  putField,
  sameBytesAt,
  viewOf,
} from "../../../core/http/wire/mod.ts";

Deno.test("sameBytesAt tells equal bytes from bytes that differ anywhere, at any length and offset", () => {
  const pattern = Uint8Array.from({ length: 23 }, (_, i) => 65 + (i * 7) % 26);
  for (let n = 0; n <= pattern.length; n++) {
    const b = pattern.slice(0, n);
    for (let start = 0; start <= 6; start++) {
      // `a` inside a larger buffer (its view offset by `lead`), the bytes ending at its very end.
      for (const lead of [0, 3]) {
        const backing = new Uint8Array(lead + start + n).fill(0x2a);
        const a = backing.subarray(lead);
        a.set(b, start);
        const av = viewOf(a);
        assert.equal(sameBytesAt(a, av, start, b, viewOf(b), n), true, `n ${n} start ${start}`);
        for (let i = 0; i < n; i++) {
          a[start + i] ^= 0x01;
          assert.equal(
            sameBytesAt(a, av, start, b, viewOf(b), n),
            false,
            `n ${n} start ${start} lead ${lead}: byte ${i}`,
          );
          a[start + i] ^= 0x01;
        }
        // What lies before and after the compared bytes does not count.
        if (start > 0) a[start - 1] ^= 0xff;
        assert.equal(sameBytesAt(a, av, start, b, viewOf(b), n), true);
      }
    }
  }
});

Deno.test("sameBytesAt with a view of a buffer that was written after the view was made", () => {
  // A view reads the bytes as they are now (a read into the buffer after the view was made).
  const a = new Uint8Array(16);
  const av = viewOf(a);
  const b = Uint8Array.from("HTTP/1.1 2", (c) => c.charCodeAt(0));
  assert.equal(sameBytesAt(a, av, 3, b, viewOf(b), b.length), false);
  a.set(b, 3);
  assert.equal(sameBytesAt(a, av, 3, b, viewOf(b), b.length), true);
});

Deno.test("a view's words are its buffer's bytes four at a time, none for a buffer off a word boundary", () => {
  const backing = new Uint8Array(20);
  const whole = viewOf(backing.subarray(4, 14));
  // Aligned: whole words over the same memory (the last 2 bytes are compared one by one).
  assert.equal(whole.words.length, 2);
  assert.equal(whole.words.buffer, backing.buffer);
  assert.equal(whole.words.byteOffset, 4);
  backing.set([1, 2, 3, 4], 8);
  assert.deepEqual(
    new Uint8Array(whole.words.buffer, whole.words.byteOffset + 4, 4),
    backing.subarray(8, 12),
  );
  assert.equal(viewOf(backing.subarray(3)).words.length, 0, "off a word boundary: none");
  assert.equal(whole.byteLength, 10, "and a DataView of exactly the bytes");
});

Deno.test("putField writes name: value CRLF one byte per char, short, long and beyond ASCII, again and again", () => {
  const values = [
    "1",
    "application/json",
    "3b241101-e2bb-4255-8caf-4136c566a962",
    "caf\u00e9 cr\u00e8me br\u00fbl\u00e9e, \u00fcber alles",
    "x".repeat(300),
  ];
  for (let round = 0; round < 3; round++) {
    for (const value of values) {
      for (const name of ["x-wire-test", "cookie"]) {
        const buf = new Uint8Array(fieldLength(name, value) + 4).fill(0xaa);
        const end = putField(buf, 2, name, value);
        assert.equal(end, 2 + fieldLength(name, value));
        assert.deepEqual(buf.subarray(2, end), latin1Bytes(`${name}: ${value}\r\n`));
        assert.deepEqual([buf[0], buf[1], buf[end], buf[end + 1]], [0xaa, 0xaa, 0xaa, 0xaa]);
      }
    }
  }
});

Deno.test("putField with a value's char codes writes what it writes from the value, and the memo of a repeated value after it", () => {
  const id = "3b241101-e2bb-4255-8caf-4136c566a962";
  const codes = [...id].map((c) => c.charCodeAt(0));
  for (const name of ["x-wire-codes", "x-wire-codes", "cookie"]) {
    // A short value first, twice (kept as a line), then the id by its codes, then the short one.
    for (
      const [value, given] of [["7", undefined], ["7", undefined], [id, codes], [
        "7",
        undefined,
      ]] as const
    ) {
      const buf = new Uint8Array(fieldLength(name, value) + 4).fill(0xaa);
      const end = putField(buf, 2, name, value, given);
      assert.equal(end, 2 + fieldLength(name, value));
      assert.deepEqual(buf.subarray(2, end), latin1Bytes(`${name}: ${value}\r\n`));
      assert.deepEqual([buf[0], buf[1], buf[end], buf[end + 1]], [0xaa, 0xaa, 0xaa, 0xaa]);
    }
  }
});

Deno.test("putField with short values that change and repeat by turns writes each line right", () => {
  // A latency of 0 or 1 ms, and values of other lengths between them: a line is written over the
  // bytes of an earlier one of the same length, never over one still in use.
  const seq = ["0", "0", "1", "1", "1", "0", "0", "12", "12", "3", "3", "12", "12", "0", "0", "0"];
  for (let round = 0; round < 3; round++) {
    for (const value of seq) {
      const name = "x-wire-turns";
      const buf = new Uint8Array(fieldLength(name, value) + 4).fill(0xaa);
      const end = putField(buf, 2, name, value);
      assert.equal(end, 2 + fieldLength(name, value));
      assert.deepEqual(buf.subarray(2, end), latin1Bytes(`${name}: ${value}\r\n`));
      assert.deepEqual([buf[0], buf[1], buf[end], buf[end + 1]], [0xaa, 0xaa, 0xaa, 0xaa]);
    }
  }
});
