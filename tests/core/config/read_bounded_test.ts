/**
 * A file a setting names is read whole up to its bound, across the reader's buffer growth, and
 * refused one byte past it; a device that never ends is refused too.
 */
import assert from "node:assert/strict";
import {
  FileTooLargeError,
  MAX_SETTING_FILE_BYTES,
  NotUtf8Error,
  readTextUpTo,
} from "../../../core/config/mod.ts";
import { tempDir } from "../../helpers.ts";

Deno.test("readTextUpTo: whole files up to the bound, one byte more refused", async () => {
  const dir = await tempDir();
  try {
    const write = (name: string, text: string) => {
      const path = `${dir.path}/${name}`;
      Deno.writeTextFileSync(path, text);
      return path;
    };
    assert.equal(readTextUpTo(write("empty", "")), "");
    // Larger than the first read buffer: read across several growths.
    const big = "k".repeat(100_000) + "é";
    assert.equal(readTextUpTo(write("big", big)), big);
    assert.equal(readTextUpTo(write("at", "x".repeat(100)), 100), "x".repeat(100));
    const over = write("over", "x".repeat(101));
    assert.throws(
      () => readTextUpTo(over, 100),
      (e) => e instanceof FileTooLargeError && e.limit === 100,
    );
    const edge = write("edge", "y".repeat(MAX_SETTING_FILE_BYTES));
    assert.equal(readTextUpTo(edge).length, MAX_SETTING_FILE_BYTES);
    assert.throws(() => readTextUpTo("/dev/zero"), FileTooLargeError);
  } finally {
    await dir.remove();
  }
});

Deno.test("readTextUpTo: a file that is not UTF-8 is refused naming its first bad line", async () => {
  const dir = await tempDir();
  try {
    const write = (name: string, bytes: number[]) => {
      const path = `${dir.path}/${name}`;
      Deno.writeFileSync(path, new Uint8Array(bytes));
      return path;
    };
    const line = (path: string) => {
      try {
        readTextUpTo(path);
      } catch (e) {
        if (e instanceof NotUtf8Error) return e.line;
        throw e;
      }
      return 0;
    };
    // "a\nb\n" then a lone Latin-1 é on line 3, and a sequence cut short at the end.
    assert.equal(line(write("latin1", [0x61, 0x0a, 0x62, 0x0a, 0x63, 0xe9, 0x0a])), 3);
    assert.equal(line(write("cut", [0x61, 0x0a, 0xc3])), 2);
    assert.equal(line(write("first", [0xff, 0xfe, 0x61, 0x00])), 1);
    // Valid UTF-8 (two-, three- and four-byte letters) reads as itself.
    const text = "ä€😀\n";
    Deno.writeTextFileSync(`${dir.path}/ok`, text);
    assert.equal(readTextUpTo(`${dir.path}/ok`), text);
  } finally {
    await dir.remove();
  }
});
