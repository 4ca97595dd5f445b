/**
 * Offline verification of a ledger in PostgreSQL: the same checks as for a SQLite file, read in
 * chunks from one repeatable-read snapshot, so replicas may keep appending meanwhile.
 * @module
 */
import type { PostgresHandle, TransactionSql } from "../engine/mod.ts";
import { refuseNewerPgLedger } from "./pg_store.ts";
import { type LedgerScan, type VerifyReport, verifyScan } from "./verify.ts";

/** Rows per query when scanning entries or nodes. */
const SCAN_CHUNK = 4096;

type Row = Record<string, unknown>;

/** Keyset pagination by `idx` over one query shape; `progress` hears of each page read. */
async function* pages(
  read: (after: number) => Promise<readonly Row[]>,
  progress: () => void,
): AsyncGenerator<Row[]> {
  let after = -1;
  for (;;) {
    const rows = [...await read(after)];
    progress();
    if (rows.length === 0) return;
    yield rows;
    if (rows.length < SCAN_CHUNK) return;
    after = Number(rows[rows.length - 1].idx);
  }
}

function scanOf(tx: TransactionSql, progress: () => void): LedgerScan {
  return {
    async getMeta(key) {
      const [r] = await tx`SELECT value FROM ledger_meta WHERE key = ${key}`;
      progress();
      return r ? String(r.value) : undefined;
    },
    entryChunks: () =>
      pages((after) =>
        tx`SELECT idx, body, leaf_hash FROM ledger_entries WHERE idx > ${after}
          ORDER BY idx LIMIT ${SCAN_CHUNK}`, progress),
    nodeChunks: (level) =>
      pages(
        (after) =>
          tx`SELECT idx, hash FROM ledger_nodes WHERE level = ${level} AND idx > ${after}
          ORDER BY idx LIMIT ${SCAN_CHUNK}`,
        progress,
      ),
    checkpoints: () =>
      (async function* () {
        for await (
          const chunk of pages(async (after) =>
            (await tx`SELECT tree_size AS idx, root_hash, note FROM ledger_checkpoints
              WHERE tree_size > ${after} ORDER BY tree_size LIMIT ${SCAN_CHUNK}`)
              .map((r) => ({ ...r, tree_size: r.idx })), progress)
        ) {
          yield* chunk;
        }
      })(),
    async latestCheckpointSize() {
      const [r] = await tx`SELECT max(tree_size) AS n FROM ledger_checkpoints`;
      progress();
      return r?.n == null ? undefined : Number(r.n);
    },
  };
}

/**
 * Verifies the ledger in the database `pg` points at. `vkey` pins the expected signer
 * (default: the stored one). A missing ledger (no tables) is reported, not thrown.
 * @throws {NewerSchemaError} when a newer release stamped the tables' schema version
 * @throws the client's error when the server cannot be reached.
 */
export async function verifyLedgerPostgres(
  pg: PostgresHandle,
  opts: { vkey?: string; progress?: () => void } = {},
): Promise<VerifyReport> {
  const progress = opts.progress ?? (() => {});
  const [exists] = await pg.sql`SELECT to_regclass('ledger_entries') IS NOT NULL AS ok`;
  progress();
  if (!exists?.ok) {
    return { ok: false, entries: 0, checkpoints: 0, bad_index: 0, reason: "no ledger tables" };
  }
  return await pg.sql.begin(
    "isolation level repeatable read read only",
    async (tx) => {
      // Tables a newer release changed are not verified as this release reads them.
      await refuseNewerPgLedger(tx, pg.label);
      progress();
      return await verifyScan(scanOf(tx, progress), opts.vkey);
    },
  ) as VerifyReport;
}
