/**
 * A file a setting names is read whole up to its bound, across the reader's buffer growth, and
 * refused one byte past it; a device that never ends is refused too. A pipe is read within a
 * wait: one with no writer, or whose writer never closes, is an error once the wait ends; one
 * written slowly within it is read whole; one read ahead is read by the synchronous readers from
 * what was kept, and one not read ahead is refused by them rather than waited on.
 */
import assert from "node:assert/strict";
import { deadline } from "../../../core/async/mod.ts";
import { ConfigError } from "../../../core/errors/mod.ts";
import {
  fileReadTimeout,
  FileTooLargeError,
  MAX_SETTING_FILE_BYTES,
  NotUtf8Error,
  PipeNotReadAheadError,
  readBytesWithin,
  readPipeAhead,
  readTextUpTo,
  readTextWithin,
  ReadTimeoutError,
} from "../../../core/config/mod.ts";
import { delay, tempDir } from "../../helpers.ts";

/** A named pipe (FIFO) in `dir`. */
async function fifo(dir: string, name: string): Promise<string> {
  const path = `${dir}/${name}`;
  const out = await new Deno.Command("mkfifo", { args: [path] }).output();
  assert.ok(out.success, "mkfifo failed");
  return path;
}

/**
 * Opens `path` for writing, as a writer that comes late: it releases a reader still waiting in
 * open(2) once a wait gave up on it, so that no operation outlives the test.
 */
async function release(path: string): Promise<void> {
  const w = await Deno.open(path, { write: true });
  w.close();
  await delay(50); // the abandoned read sees the end and closes its side
}

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

Deno.test("readBytesWithin: a pipe with no writer ends the wait saying no data arrived", async () => {
  const dir = await tempDir();
  try {
    const path = await fifo(dir.path, "no-writer");
    const err = await readBytesWithin(path, { timeoutMs: 200 }).then(
      () => assert.fail("read a pipe with no writer"),
      (e) => e,
    );
    assert.ok(err instanceof ReadTimeoutError, String(err));
    assert.equal(err.received, 0);
    assert.match(err.message, /^no data arrived within 200ms \(a pipe with no writer\?\); /);
    assert.match(err.message, /IATP_FILE_READ_TIMEOUT sets the wait$/);
    // The open the wait gave up on still holds a runtime thread: a new read of the same pipe
    // fails at once instead of taking another (bounded here: a second wait fails the test).
    const again = await deadline(readBytesWithin(path, { timeoutMs: 60_000 }), 10_000).then(
      () => assert.fail("read a pipe with no writer"),
      (e) => e,
    );
    assert.ok(again instanceof ReadTimeoutError, String(again));
    await release(path);
  } finally {
    await dir.remove();
  }
});

Deno.test("readBytesWithin: a writer that never closes ends the wait with what arrived", async () => {
  const dir = await tempDir();
  try {
    const path = await fifo(dir.path, "open-writer");
    const reading = readBytesWithin(path, { timeoutMs: 300 });
    const w = await Deno.open(path, { write: true });
    try {
      await w.write(new TextEncoder().encode("port: 9"));
      const err = await reading.then(() => assert.fail("read past the wait"), (e) => e);
      assert.ok(err instanceof ReadTimeoutError, String(err));
      assert.equal(err.received, 7);
      assert.match(err.message, /^its data did not end within 300ms/);
    } finally {
      w.close();
    }
    await delay(50);
  } finally {
    await dir.remove();
  }
});

Deno.test("readTextWithin: a pipe written slowly within the wait is read whole", async () => {
  const dir = await tempDir();
  try {
    const path = await fifo(dir.path, "slow");
    const writer = (async () => {
      await delay(100); // the reader waits in open(2) for this writer
      using w = await Deno.open(path, { write: true });
      for (const part of ["port: ", "9", "100\n"]) {
        await w.write(new TextEncoder().encode(part));
        await delay(100);
      }
    })();
    assert.equal(await readTextWithin(path, { timeoutMs: 10_000 }), "port: 9100\n");
    await writer;
  } finally {
    await dir.remove();
  }
});

Deno.test("readBytesWithin: the size bound holds for a device that never ends", async () => {
  await assert.rejects(readBytesWithin("/dev/zero", { limit: 1000 }), FileTooLargeError);
});

Deno.test("readPipeAhead: the synchronous readers take a pipe's data, kept, and refuse one not read ahead", async () => {
  const dir = await tempDir();
  try {
    const path = await fifo(dir.path, "ahead");
    const other = await fifo(dir.path, "not-ahead");
    const writer = (async () => {
      using w = await Deno.open(path, { write: true });
      await w.write(new TextEncoder().encode("secret-from-a-pipe\n"));
    })();
    await readPipeAhead(path);
    await writer;
    // A pipe's data can be read once: every later read gets what was kept.
    assert.equal(readTextUpTo(path), "secret-from-a-pipe\n");
    assert.equal(readTextUpTo(path), "secret-from-a-pipe\n");
    assert.throws(() => readTextUpTo(path, 5), FileTooLargeError);
    // Not read ahead: refused at once, where opening it would wait for a writer on this thread.
    assert.throws(() => readTextUpTo(other), PipeNotReadAheadError);
    // A regular file is left to the reader (read when it reads it, not kept).
    const plain = `${dir.path}/plain`;
    await Deno.writeTextFile(plain, "one");
    await readPipeAhead(plain);
    await Deno.writeTextFile(plain, "two");
    assert.equal(readTextUpTo(plain), "two");
  } finally {
    await dir.remove();
  }
});

Deno.test("fileReadTimeout: IATP_FILE_READ_TIMEOUT, 5s when unset, a config error naming it when not a duration", () => {
  const env = (value: string | undefined) => (name: string) =>
    name === "IATP_FILE_READ_TIMEOUT" ? value : undefined;
  assert.equal(fileReadTimeout(env(undefined)), 5_000);
  assert.equal(fileReadTimeout(env("750ms")), 750);
  assert.equal(fileReadTimeout(env("1m")), 60_000);
  for (const bad of ["0", "soon", "2h", "-1s"]) {
    assert.throws(
      () => fileReadTimeout(env(bad)),
      (e: unknown) =>
        e instanceof ConfigError && e.source.kind === "env" &&
        e.source.name === "IATP_FILE_READ_TIMEOUT",
      bad,
    );
  }
});
