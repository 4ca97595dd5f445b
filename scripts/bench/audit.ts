/**
 * Audit ledger benchmark (prints JSON):
 * 1. durable appends/s with 50 concurrent clients, in-process and over HTTP, against naive
 *    SQLite inserts (synchronous=FULL, one transaction per row) in the same run;
 * 2. a 1M-entry ledger built directly through the storage layer (batches of 10k, one signed
 *    checkpoint each), then inclusion-proof latency at 1M and a full offline verify.
 * Usage: deno run -A scripts/bench/audit.ts [--entries 1000000] [--appends 10000]
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { parseArgs } from "node:util";
import { command, start } from "../../cmd/audit.ts";
import { generateKeyPair } from "../../core/crypto/mod.ts";
import {
  type EntryRow,
  entryText,
  formatCheckpoint,
  Frontier,
  leafHash,
  Ledger,
  LedgerStore,
  type NewNode,
  signNote,
  verifyLedgerFile,
} from "../../core/ledger/mod.ts";
import { silentLogger } from "../../core/log/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    entries: { type: "string", default: "1000000" },
    appends: { type: "string", default: "10000" },
    naive: { type: "string", default: "2000" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log(`Usage: deno run -A scripts/bench/audit.ts [--entries N] [--appends N] [--naive N]
  --entries N   entries of the ledger built through the storage layer (default 1000000)
  --appends N   durable appends of 50 concurrent clients, in-process and over HTTP (default 10000)
  --naive N     naive SQLite inserts, one transaction per row (default 2000)
Prints one JSON document.`);
  Deno.exit(0);
}
const ENTRIES = Number(values.entries);
const APPENDS = Number(values.appends);
const NAIVE = Number(values.naive);
const CLIENTS = 50;
const BUILD_BATCH = 10_000;
const dir = await Deno.makeTempDir({ prefix: "iatp-bench-audit-" });
const payload = { decision: "allow", risk_after: 37, obligations: { timebox: 3600 } };

async function concurrently(n: number, one: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    for (let i = next++; i < n; i = next++) await one(i);
  }));
  return Math.round(n / ((performance.now() - t0) / 1000));
}

function naiveInserts(): number {
  const db = new DatabaseSync(`${dir}/naive.db`);
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;");
  db.exec("CREATE TABLE t (idx INTEGER PRIMARY KEY, tx_id TEXT, body TEXT)");
  const ins = db.prepare("INSERT INTO t (tx_id, body) VALUES (?, ?)");
  const t0 = performance.now();
  for (let i = 0; i < NAIVE; i++) ins.run(`tx-${i}`, JSON.stringify({ i, ...payload })); // autocommit: 1 txn/row
  const rate = Math.round(NAIVE / ((performance.now() - t0) / 1000));
  db.close();
  return rate;
}

async function appendRates() {
  const ledger = await Ledger.open({
    store: new LedgerStore(`${dir}/inproc.db`),
    key: await generateKeyPair(),
  });
  const inProcess = await concurrently(APPENDS, async (i) => {
    await ledger.append({ tx_id: `tx-${i}`, event: "bench", actor: "bench", payload });
  });
  const commits =
    (ledger.store.db.prepare("SELECT COUNT(*) AS n FROM checkpoints").get() as { n: number }).n;
  await ledger.close();
  const svc = await start(command.resolve({ port: 0, db: `${dir}/http.db` }), {
    log: silentLogger,
  });
  const body = (i: number) =>
    JSON.stringify({ tx_id: `tx-${i}`, event: "bench", actor: "bench", payload });
  const http = await concurrently(APPENDS, async (i) => {
    const r = await fetch(`${svc.url}/audit`, {
      method: "POST",
      body: body(i),
      headers: { "content-type": "application/json" },
    });
    if (r.status !== 200) throw new Error(`append answered ${r.status}`);
    await r.body?.cancel();
  });
  await svc.close();
  const httpDb = new DatabaseSync(`${dir}/http.db`, { readOnly: true });
  const httpCommits =
    (httpDb.prepare("SELECT COUNT(*) AS n FROM checkpoints").get() as { n: number }).n;
  httpDb.close();
  return {
    inProcess,
    http,
    avgBatch: +(APPENDS / commits).toFixed(1),
    httpAvgBatch: +(APPENDS / httpCommits).toFixed(1),
  };
}

async function buildLarge(path: string) {
  const key = await generateKeyPair();
  const store = new LedgerStore(path);
  const ledger = await Ledger.open({ store, key }); // fixes origin and vkey in the store
  const origin = ledger.origin;
  const frontier = new Frontier();
  const enc = new TextEncoder();
  const t0 = performance.now();
  const ts = new Date().toISOString();
  while (frontier.size < ENTRIES) {
    const entries: EntryRow[] = [];
    const nodes: NewNode[] = [];
    const end = Math.min(ENTRIES, frontier.size + BUILD_BATCH);
    while (frontier.size < end) {
      const index = frontier.size;
      const body = entryText({
        index,
        tx_id: `tx-${index}`,
        event: "bench",
        actor: "bench",
        payload,
        ts,
      });
      const leaf = leafHash(enc.encode(body));
      nodes.push(...frontier.append(leaf));
      entries.push({
        index,
        tx_id: `tx-${index}`,
        body,
        leaf_hash: leaf,
        receipt_size: end,
        idem_key: null,
      });
    }
    const root = frontier.root();
    const note = await signNote(formatCheckpoint({ origin, treeSize: end, rootHash: root }), {
      name: origin,
      ...key,
    });
    store.commit({ entries, nodes, checkpoint: { tree_size: end, root_hash: root, note } });
  }
  const buildSecs = (performance.now() - t0) / 1000;
  store.close();
  return { key, buildSecs };
}

async function proofTimes(
  path: string,
  key: CryptoKeyPair | Awaited<ReturnType<typeof generateKeyPair>>,
) {
  const ledger = await Ledger.open({
    store: new LedgerStore(path),
    key: key as Awaited<ReturnType<typeof generateKeyPair>>,
  });
  const samples: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const index = Math.floor(Math.random() * ledger.size);
    const t = performance.now();
    ledger.inclusion(index, ledger.size);
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  await ledger.close();
  return { p50_ms: +samples[1000].toFixed(3), p99_ms: +samples[1980].toFixed(3) };
}

try {
  const naive = naiveInserts();
  const rates = await appendRates();
  const big = `${dir}/big.db`;
  const { key, buildSecs } = await buildLarge(big);
  const proof = await proofTimes(big, key);
  const t0 = performance.now();
  const report = await verifyLedgerFile(big);
  const verifySecs = (performance.now() - t0) / 1000;
  if (!report.ok) throw new Error(`verify failed: ${report.reason}`);
  console.log(JSON.stringify(
    {
      bench: "audit",
      clients: CLIENTS,
      appends: APPENDS,
      durable_appends_per_s: {
        in_process: rates.inProcess,
        http: rates.http,
        avg_entries_per_commit: rates.avgBatch,
        http_avg_entries_per_commit: rates.httpAvgBatch,
      },
      naive_sqlite_full_one_txn_per_row_per_s: naive,
      ratios: {
        in_process_vs_naive: +(rates.inProcess / naive).toFixed(2),
        http_vs_naive: +(rates.http / naive).toFixed(2),
      },
      large: {
        entries: ENTRIES,
        build_secs: +buildSecs.toFixed(1),
        inclusion_proof: proof,
        full_verify_secs: +verifySecs.toFixed(2),
        verified_checkpoints: report.checkpoints,
      },
      targets: { appends_per_s: 5000, vs_naive: 10, proof_ms: 1, verify_1m_secs: 10 },
    },
    null,
    2,
  ));
} finally {
  if (!Deno.env.get("KEEP")) await Deno.remove(dir, { recursive: true });
  else console.error(dir);
}
