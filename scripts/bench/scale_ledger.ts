/**
 * The ledger part of the scale-out benchmark (prints JSON when run directly): acknowledged
 * appends per second over HTTP from concurrent clients against the embedded SQLite ledger, one
 * `iatp audit` writer on PostgreSQL and two writers sharing one PostgreSQL ledger, all in the
 * same run (PostgreSQL with fsync on, SQLite with synchronous=FULL); and failover time: with
 * both writers under load, one killed with SIGKILL, the time from the kill to the next append
 * acknowledged by the other. Writers run as child processes; PostgreSQL is a throwaway cluster
 * on a loopback port.
 * Usage: deno run -A scripts/bench/scale_ledger.ts [--appends 6000] [--clients 32]
 * @module
 */
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import { startIatpService } from "../../tests/helpers.ts";
import { startPostgres, type TestPostgres } from "../../tests/support/postgres.ts";

/** What to measure. */
export interface LedgerScaleOptions {
  /** Acknowledged appends per configuration. */
  appends: number;
  /** Concurrent HTTP clients (split over the writers). */
  clients: number;
}

type Writer = Awaited<ReturnType<typeof startIatpService>>;

/** Starts one `iatp audit` writer on `db` (a file path or a postgres:// URL). */
async function startWriter(
  db: string,
  dir: string,
  keyFile: string,
  pg?: TestPostgres,
): Promise<Writer> {
  const args = ["audit", "--port", "0", "--compat", "iatp", "--db", db, "--key-file", keyFile];
  if (pg) {
    await Deno.writeTextFile(`${dir}/pg-password`, pg.password);
    args.push("--db-password", `file:${dir}/pg-password`);
  }
  // The data dir is the parent of every file a writer reads (the shared key included).
  return await startIatpService(args, { env: { IATP_DATA_DIR: dirname(dir) } });
}

async function append(url: string, tx: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/audit`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ tx_id: tx, event: "bench", actor: "bench", payload: { tx } }),
    });
    await res.body?.cancel();
    return res.status === 201;
  } catch {
    return false;
  }
}

/** Appends/s with `clients` loops spread over `urls` until `total` are acknowledged. */
async function load(urls: string[], clients: number, total: number, tag: string) {
  let acked = 0;
  let failed = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    const url = urls[c % urls.length];
    for (let i = 0; acked < total; i++) {
      if (await append(url, `${tag}-${c}-${i}`)) acked++;
      else failed++;
    }
  }));
  const secs = (performance.now() - t0) / 1000;
  return { appends_per_s: Math.round(acked / secs), acked, failed };
}

/** Kill one of two loaded writers; time until the other acknowledges an append. */
async function failover(a: Writer, b: Writer, clients: number) {
  let stop = false;
  const loops = Array.from({ length: clients }, async (_, c) => {
    const url = c % 2 === 0 ? a.url : b.url;
    for (let i = 0; !stop; i++) await append(url, `fo-${c}-${i}`);
  });
  // Let the load settle on both writers first.
  for (let n = 0; n < 200; n++) await append(b.url, `warm-${n}`);
  const killedAt = performance.now();
  a.process.kill("SIGKILL");
  let ms = NaN;
  for (let i = 0; Number.isNaN(ms); i++) {
    if (await append(b.url, `after-kill-${i}`)) ms = performance.now() - killedAt;
  }
  stop = true;
  await Promise.all(loops);
  await a.process.status;
  return { kill_to_next_ack_ms: Math.round(ms * 10) / 10 };
}

/**
 * Runs every configuration and returns the figures.
 * @throws {Error} when PostgreSQL or a writer cannot start.
 */
export async function ledgerScale(opts: LedgerScaleOptions): Promise<Record<string, unknown>> {
  const tmp = await Deno.makeTempDir({ prefix: "iatp-bench-ledger-" });
  const pg = await startPostgres({ fsync: true });
  const writers: Writer[] = [];
  const writer = async (db: string, name: string, withPg?: TestPostgres) => {
    const dir = `${tmp}/${name}`;
    await Deno.mkdir(dir, { recursive: true });
    // Every PostgreSQL writer signs the one log with the same key.
    const key = withPg ? `${tmp}/pg.key` : `${dir}/audit.key`;
    const w = await startWriter(db, dir, key, withPg);
    writers.push(w);
    return w;
  };
  try {
    const sqlite = await writer(`${tmp}/sqlite/audit.db`, "sqlite");
    const embedded = await load([sqlite.url], opts.clients, opts.appends, "sqlite");
    await sqlite.stop();
    const first = await writer(pg.urlWithoutPassword, "pg1", pg);
    const one = await load([first.url], opts.clients, opts.appends, "pg1");
    const second = await writer(pg.urlWithoutPassword, "pg2", pg);
    const two = await load([first.url, second.url], opts.clients, opts.appends, "pg2");
    const fo = await failover(first, second, opts.clients);
    return {
      clients: opts.clients,
      appends: opts.appends,
      sqlite_embedded: embedded,
      postgres_1_writer: one,
      postgres_2_writers: two,
      failover: fo,
      note: "acknowledged HTTP appends; PostgreSQL fsync=on, SQLite synchronous=FULL",
    };
  } finally {
    for (const w of writers) await w.stop("SIGKILL").catch(() => {});
    await pg.stop();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      appends: { type: "string", default: "6000" },
      clients: { type: "string", default: "32" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(`Usage: deno run -A scripts/bench/scale_ledger.ts [--appends N] [--clients N]
  --appends N   appends per configuration (default 6000)
  --clients N   concurrent clients (default 32)
Needs PostgreSQL. Prints one JSON document.`);
    Deno.exit(0);
  }
  const ledger = await ledgerScale({
    appends: Number(values.appends),
    clients: Number(values.clients),
  });
  console.log(JSON.stringify(
    {
      bench: "scale_ledger",
      machine: { cores: navigator.hardwareConcurrency, deno: Deno.version.deno },
      ledger,
    },
    null,
    2,
  ));
}
