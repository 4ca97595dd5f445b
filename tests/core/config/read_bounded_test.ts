/**
 * A file a setting names is read whole up to its bound, across the reader's buffer growth, and
 * refused one byte past it; a device that never ends is refused too.
 */
import assert from "node:assert/strict";
import {
  FileTooLargeError,
  MAX_SETTING_FILE_BYTES,
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
