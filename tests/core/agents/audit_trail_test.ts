import assert from "node:assert/strict";
import { join } from "node:path";
import { AuditTrail, GENESIS_HASH, verifyAuditLines } from "../../../core/agents/audit_trail.ts";
import { createLogger, registerSecret, silentLogger } from "../../../core/log/mod.ts";
import { tempDir } from "../../helpers.ts";

async function open(
  file: string,
  maxFileBytes = 1024 * 1024,
  agentId = "a1",
  lockTimeoutMs = 10_000,
) {
  return await AuditTrail.open({
    file,
    agentId,
    maxFileBytes,
    maxFiles: 3,
    lockTimeoutMs,
    log: silentLogger,
  });
}

Deno.test("audit trail: records chain, verify, and resume after reopen", async () => {
  const dir = await tempDir();
  try {
    const file = join(dir.path, "audit.jsonl");
    let trail = await open(file);
    await trail.append("instruction.received", { instruction_id: "i1" }, "i1");
    await trail.append("instruction.executed", { instruction_id: "i1", status: "completed" }, "i1");
    trail = await open(file);
    await trail.append("result.reported", { instruction_id: "i1" }, "i1");
    const text = await Deno.readTextFile(file);
    const v = verifyAuditLines(text);
    assert.equal(v.ok, true, JSON.stringify(v.error));
    assert.equal(v.count, 3);
    const lines = text.trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.seq), [1, 2, 3]);
    assert.equal(lines[0].prev, GENESIS_HASH);
    assert.equal(lines[2].prev, lines[1].hash);
    assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
  } finally {
    await dir.remove();
  }
});

Deno.test("audit trail: a last line cut short (a crash mid-write) neither stops the start nor swallows the next record", async () => {
  const dir = await tempDir();
  try {
    const file = join(dir.path, "audit.jsonl");
    let trail = await open(file);
    for (let i = 0; i < 3; i++) await trail.append("e", { n: i });
    const whole = await Deno.readTextFile(file);
    const third = JSON.parse(whole.trim().split("\n")[2]);
    // The fourth record's write stopped half way: no line feed after it.
    await Deno.writeTextFile(file, '{"seq":4,"ts":"2026-', { append: true });
    const warnings: string[] = [];
    trail = await AuditTrail.open({
      file,
      agentId: "a1",
      maxFileBytes: 1024 * 1024,
      maxFiles: 3,
      lockTimeoutMs: 10_000,
      log: createLogger({ service: "t", sink: (line: string) => warnings.push(line) }),
    });
    const rec = await trail.append("after", { n: 9 });
    assert.ok(rec, "the record was written");
    assert.equal(rec.seq, 4);
    assert.equal(rec.prev, third.hash, "chained from the last whole record");
    await trail.append("after", { n: 10 });
    const lines = (await Deno.readTextFile(file)).trim().split("\n");
    assert.equal(lines.length, 6, "the torn line stays a line of its own");
    assert.equal(lines[3], '{"seq":4,"ts":"2026-');
    assert.equal(JSON.parse(lines[4]).seq, 4);
    assert.equal(JSON.parse(lines[5]).prev, JSON.parse(lines[4]).hash);
    // Verification still reports the torn line, where it is.
    const v = verifyAuditLines(lines.join("\n"));
    assert.equal(v.ok, false);
    assert.equal(v.error?.line, 4);
    assert.equal(verifyAuditLines(lines.slice(4).join("\n"), third.hash).ok, true);
    assert.equal(warnings.filter((w) => /cut short/.test(w)).length, 1, "warned once");
  } finally {
    await dir.remove();
  }
});

Deno.test("audit trail: an edited or deleted line breaks verification", async () => {
  const dir = await tempDir();
  try {
    const file = join(dir.path, "audit.jsonl");
    const trail = await open(file);
    for (let i = 0; i < 4; i++) await trail.append("e", { n: i });
    const lines = (await Deno.readTextFile(file)).trim().split("\n");
    const edited = [...lines];
    edited[1] = edited[1].replace('"n":1', '"n":7');
    let v = verifyAuditLines(edited.join("\n"));
    assert.equal(v.ok, false);
    assert.equal(v.error?.line, 2);
    v = verifyAuditLines([lines[0], lines[2], lines[3]].join("\n"));
    assert.equal(v.ok, false);
    assert.equal(v.error?.line, 2);
  } finally {
    await dir.remove();
  }
});

Deno.test("audit trail: secrets are scrubbed before hashing and writing", async () => {
  const dir = await tempDir();
  try {
    const file = join(dir.path, "audit.jsonl");
    registerSecret("registered-secret-value-xyz");
    const trail = await open(file);
    await trail.append("e", {
      api_key: "key-material-123",
      note: "Bearer abcdefghijklmnop and registered-secret-value-xyz",
    });
    const text = await Deno.readTextFile(file);
    assert.doesNotMatch(text, /key-material-123|abcdefghijklmnop|registered-secret-value-xyz/);
    assert.match(text, /\[REDACTED\]/);
    assert.equal((verifyAuditLines(text)).ok, true);
  } finally {
    await dir.remove();
  }
});

Deno.test("audit trail: rotation keeps the chain across files and bounds file count", async () => {
  const dir = await tempDir();
  try {
    const file = join(dir.path, "audit.jsonl");
    const trail = await open(file, 4096);
    for (let i = 0; i < 60; i++) await trail.append("e", { n: i, pad: "x".repeat(200) });
    const names = [...Deno.readDirSync(dir.path)].map((e) => e.name).sort();
    assert.deepEqual(names, [
      "audit.jsonl",
      "audit.jsonl.1",
      "audit.jsonl.2",
      "audit.jsonl.3",
      "audit.jsonl.lock",
    ]);
    const text = [3, 2, 1].map((i) => Deno.readTextFileSync(`${file}.${i}`)).join("") +
      Deno.readTextFileSync(file);
    const v = verifyAuditLines(text, null);
    assert.equal(v.ok, true, JSON.stringify(v.error));
    const last = JSON.parse(Deno.readTextFileSync(file).trim().split("\n").at(-1)!);
    assert.equal(last.seq, 60);
  } finally {
    await dir.remove();
  }
});

Deno.test("audit trail: /health reports a file that cannot be opened, with no record attempted", async () => {
  const dir = await tempDir();
  try {
    const file = join(dir.path, "audit.jsonl");
    const trail = await open(file);
    await trail.append("instruction.received", { instruction_id: "i1" }, "i1");
    // The file's place taken by a folder: only the probe can notice, no append follows.
    await Deno.remove(file);
    await Deno.mkdir(file);
    const h = trail.health();
    assert.equal(h.ok, false);
    assert.equal(h.reason, "trail cannot be opened for writing: is a directory");
    assert.equal(h.failures, 0, "no record was attempted");
    assert.ok(!JSON.stringify(h).includes(dir.path), "no path");
  } finally {
    await dir.remove();
  }
});

Deno.test("audit trail: two writers of one file (each its own lock) keep one chain, across rotations", async () => {
  const dir = await tempDir();
  try {
    const file = join(dir.path, "audit.jsonl");
    // Each trail opens the lock file itself: flock locks of two opens exclude each other as
    // two processes' do.
    const a = await open(file, 8192, "a");
    const b = await open(file, 8192, "b");
    const writes = [];
    for (let i = 0; i < 40; i++) {
      writes.push(a.append("e", { n: i, pad: "x".repeat(100) }));
      writes.push(b.append("e", { n: i, pad: "y".repeat(100) }));
    }
    const records = await Promise.all(writes);
    assert.ok(records.every((r) => r !== undefined), "every record written");
    assert.equal(a.failures + b.failures, 0);
    const names = [...Deno.readDirSync(dir.path)].map((e) => e.name).sort();
    assert.ok(names.includes("audit.jsonl.1"), `rotated: ${names}`);
    const text = [3, 2, 1].map((i) => {
      try {
        return Deno.readTextFileSync(`${file}.${i}`);
      } catch {
        return "";
      }
    }).join("") + Deno.readTextFileSync(file);
    const v = verifyAuditLines(text, null);
    assert.equal(v.ok, true, JSON.stringify(v.error));
    const lines = text.trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(lines.at(-1).seq, 80);
    assert.deepEqual(new Set(lines.map((l) => l.agent_id)), new Set(["a", "b"]));
    // Both resume the one chain: the next record of either follows the last on disk.
    const next = await a.append("e", {});
    assert.equal(next?.seq, 81);
    assert.equal(next?.prev, lines.at(-1).hash);
  } finally {
    await dir.remove();
  }
});

Deno.test("audit trail: a lock held past lock_timeout fails the record (counted, on /health), the next one is written", async () => {
  const dir = await tempDir();
  try {
    const file = join(dir.path, "audit.jsonl");
    const trail = await open(file, 1024 * 1024, "a1", 50);
    await trail.append("e", { n: 1 });
    const holder = await Deno.open(`${file}.lock`, { read: true, write: true });
    await holder.lock(true);
    let released = false;
    try {
      assert.equal(await trail.append("e", { n: 2 }), undefined);
      const h = trail.health();
      assert.equal(h.ok, false);
      assert.equal(
        h.reason,
        "last record not written: another writer held the trail's lock past " +
          "security.audit.lock_timeout",
      );
      assert.equal(h.failures, 1);
      holder.close();
      released = true;
      const r = await trail.append("e", { n: 3 });
      assert.equal(r?.seq, 2);
      assert.equal(trail.health().ok, true);
      assert.equal((await Deno.stat(`${file}.lock`)).mode! & 0o777, 0o600);
      assert.equal(verifyAuditLines(await Deno.readTextFile(file)).count, 2);
    } finally {
      if (!released) holder.close();
    }
  } finally {
    await dir.remove();
  }
});
