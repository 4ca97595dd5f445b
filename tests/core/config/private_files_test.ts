/**
 * Data files are owner-only whatever the umask: a folder a service makes for its data is 0700,
 * and every store it opens there (the audit ledger, the relay's history, the policy's decision
 * state, the replay store, the recorder) is 0600 with its SQLite -wal and -shm files. A folder
 * that already exists keeps its mode, and one other users may read is reported.
 */
import assert from "node:assert/strict";
import {
  createPrivateFile,
  ensureDir,
  ensureParentDir,
  lockWriter,
} from "../../../core/config/mod.ts";
import { openReplayStore } from "../../../core/auth/mod.ts";
import { LedgerStore } from "../../../core/ledger/mod.ts";
import { openDecisionState } from "../../../core/policy/mod.ts";
import { openRecordStore, type TraceRecord } from "../../../core/recorder/mod.ts";
import { openSqliteStore } from "../../../core/relay/mod.ts";
import { tempDir } from "../../helpers.ts";

const mode = (path: string) => (Deno.statSync(path).mode! & 0o777).toString(8);

/** Runs `fn` under umask 0, the loosest one (files 0666 and folders 0777 unless told). */
async function underOpenUmask<T>(fn: () => Promise<T>): Promise<T> {
  const was = Deno.umask(0);
  try {
    return await fn();
  } finally {
    Deno.umask(was);
  }
}

Deno.test("ensureDir makes a missing folder and its missing parents 0700 under umask 0", async () => {
  const dir = await tempDir();
  try {
    const data = `${dir.path}/a/b/data`;
    const open = await underOpenUmask(() => ensureDir(data));
    assert.equal(open, undefined);
    assert.equal(mode(data), "700");
    assert.equal(mode(`${dir.path}/a`), "700");
    assert.equal(mode(`${dir.path}/a/b`), "700");
    assert.equal(await underOpenUmask(() => ensureParentDir(`${dir.path}/c/audit.db`)), undefined);
    assert.equal(mode(`${dir.path}/c`), "700");
  } finally {
    await dir.remove();
  }
});

Deno.test("ensureDir keeps an existing folder's mode and reports one other users may read", async () => {
  const dir = await tempDir();
  try {
    const shared = `${dir.path}/shared`;
    await Deno.mkdir(shared);
    Deno.chmodSync(shared, 0o755);
    assert.deepEqual(await ensureDir(shared), { path: shared, mode: "0755" });
    assert.equal(mode(shared), "755", "an existing folder is the operator's: left as it is");
    assert.deepEqual(await ensureParentDir(`${shared}/relay.db`), { path: shared, mode: "0755" });
    const own = `${dir.path}/own`;
    await Deno.mkdir(own);
    Deno.chmodSync(own, 0o700);
    assert.equal(await ensureDir(own), undefined);
    const file = `${dir.path}/file`;
    Deno.writeTextFileSync(file, "");
    await assert.rejects(() => ensureDir(file), Deno.errors.AlreadyExists);
  } finally {
    await dir.remove();
  }
});

Deno.test("createPrivateFile and lockWriter make a missing file 0600 under umask 0; an existing one keeps its mode", async () => {
  const dir = await tempDir();
  try {
    await underOpenUmask(() => {
      createPrivateFile(`${dir.path}/a`).close();
      lockWriter(`${dir.path}/b`)?.close();
      return Promise.resolve();
    });
    assert.equal(mode(`${dir.path}/a`), "600");
    assert.equal(mode(`${dir.path}/b`), "600");
    Deno.writeTextFileSync(`${dir.path}/c`, "kept");
    Deno.chmodSync(`${dir.path}/c`, 0o640);
    const f = createPrivateFile(`${dir.path}/c`);
    f.close();
    assert.equal(mode(`${dir.path}/c`), "640");
    assert.equal(Deno.readTextFileSync(`${dir.path}/c`), "kept");
  } finally {
    await dir.remove();
  }
});

Deno.test("every SQLite store is 0600 with its -wal and -shm files under umask 0", async () => {
  const dir = await tempDir();
  const d = dir.path;
  try {
    const opened = await underOpenUmask(async () => [
      new LedgerStore(`${d}/audit.db`),
      await openSqliteStore(`${d}/relay.db`, { maxEventsPerTopic: 10, maxAgeMs: 0, maxTopics: 10 }),
      await openDecisionState(`${d}/policy-state.db`),
      await openReplayStore({ path: `${d}/replay.db` }),
      await openRecordStore(`${d}/recorder.db`),
    ]);
    try {
      for (const name of ["audit.db", "relay.db", "policy-state.db", "replay.db", "recorder.db"]) {
        for (const suffix of ["", "-wal", "-shm"]) {
          assert.equal(mode(`${d}/${name}${suffix}`), "600", `${name}${suffix}`);
        }
      }
    } finally {
      for (const store of opened) await store.close();
    }
  } finally {
    await dir.remove();
  }
});

Deno.test("the recorder's JSONL file is 0600 under umask 0, and so is the file a rotation starts", async () => {
  const dir = await tempDir();
  const file = `${dir.path}/trace.jsonl`;
  try {
    const store = await underOpenUmask(() => openRecordStore(file, { maxBytes: 1 }));
    try {
      assert.equal(mode(file), "600");
      const rec = (n: number): TraceRecord => ({
        trace_id: `t${n}`,
        type: "request",
        timestamp: new Date(0).toISOString(),
        details: {},
      });
      await underOpenUmask(() => {
        store.append(rec(1));
        store.flush();
        store.append(rec(2));
        store.flush();
        return Promise.resolve();
      });
      assert.equal(mode(`${file}.1`), "600");
      assert.equal(mode(file), "600");
    } finally {
      await store.close();
    }
  } finally {
    await dir.remove();
  }
});
