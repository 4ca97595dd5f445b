/**
 * A database a service writes that is a pipe (FIFO) or a device is a config error naming
 * its setting (exit 2), before anything is written beside it: a pipe failed the start as a bare
 * `disk I/O error` (exit 1), naming nothing.
 */
import assert from "node:assert/strict";
import { runIatp, tempDir } from "../helpers.ts";

Deno.test("a database setting naming a pipe or a device is a config error naming it", async () => {
  const dir = await tempDir();
  try {
    const fifo = `${dir.path}/pipe.db`;
    assert.ok((await new Deno.Command("mkfifo", { args: [fifo] }).output()).success);
    const cases: Array<[string[], RegExp]> = [
      [["audit", "--db", fifo], /config error: db \(flag --db\): .*pipe\.db \(a pipe \(FIFO\)\)/],
      [
        ["audit", "--db", "/dev/zero"],
        /config error: db \(flag --db\): .*\/dev\/zero \(a device\)/,
      ],
      [
        ["policy", "--relay-url", "http://127.0.0.1:19431", "--state-db", fifo],
        /config error: state_db \(flag --state-db\): .*pipe\.db \(a pipe \(FIFO\)\)/,
      ],
    ];
    for (const [args, want] of cases) {
      const r = await runIatp([...args, "--port", "0"], {
        env: { IATP_DATA_DIR: dir.path },
        timeoutMs: 30_000,
      });
      assert.equal(r.code, 2, r.stderr + r.stdout);
      assert.match(r.stderr, want);
      assert.doesNotMatch(r.stderr, /disk I\/O error| {4}at /);
    }
    assert.deepEqual([...Deno.readDirSync(dir.path)].map((e) => e.name), ["pipe.db"]);
  } finally {
    await dir.remove();
  }
});
