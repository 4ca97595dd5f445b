/**
 * `iatp audit verify`: offline (`--db PATH` or `--db postgres://...`) or live (`--url URL`)
 * verification of a ledger.
 * Exit 0 when it verifies, 1 naming the first bad index (or the failed check), 2 on bad usage.
 * @module
 */
import {
  DATA_DIR,
  defineConfig,
  duration,
  lateImport,
  newerSchemaError,
  path,
  readTextWithin,
  str,
  unreadableWhy,
  url,
} from "../../core/config/mod.ts";
import {
  CheckFailedError,
  ConfigError,
  type ConfigSource,
  errorMessage,
  NewerSchemaError,
} from "../../core/errors/mod.ts";
import { isPostgresUrl } from "../../core/engine/settings/mod.ts";
import {
  checkLiveLog,
  MonitorStateError,
  openCheckpoint,
  parseVkey,
  type Receipt,
  verifyLedgerFile,
  verifyLedgerPostgres,
  verifyReceipt,
  type VerifyReport,
} from "../../core/ledger/mod.ts";
import { encodeHex } from "../../core/encoding/mod.ts";
import { resolveSecretSetting } from "../../core/auth/settings/mod.ts";
import { every } from "../../core/async/mod.ts";
import type { Command } from "../command.ts";
import { print } from "../shared.ts";

/** The verify sub-verb's configuration. */
export const verifySpec = defineConfig({
  command: "audit verify",
  summary: "Verify a ledger: --db recomputes a database offline; --url checks a live log's " +
    "signed checkpoint and its consistency with the last one seen.",
  fields: {
    db: str({
      help: "ledger to verify offline: a SQLite file or a postgres://user@host/db URL",
      grants: (v) => isPostgresUrl(v) ? [] : [{ path: v, access: "read" }],
    }),
    db_password: str({
      help: "PostgreSQL password, or file:PATH (else the one in the db URL, if any)",
      secret: true,
      fileRef: true,
    }),
    url: url({ help: "base URL of a live audit service to check" }),
    receipt: path({
      help: "an entry with its receipt (the JSON GET /entries/{index} answers) to verify " +
        "offline against --vkey, with no service",
      access: "read",
    }),
    state_file: path({
      help: "where --url remembers the last checkpoint it saw",
      default: `${DATA_DIR}/audit-monitor.json`,
      access: "write",
      siblings: [".tmp"], // written beside it, then renamed over it
    }),
    vkey: str({ help: "expected signer key (C2SP vkey); default the stored/remembered one" }),
    timeout: duration({
      help: "HTTP timeout for --url; with --db postgres://, the longest the server may leave a " +
        "read unanswered (the check then stops, exit 1)",
      default: 10_000,
      min: 1,
    }),
  },
  check: (c, sources) => {
    const given = (["db", "url", "receipt"] as const).filter((k) => c[k] !== undefined);
    if (given.length !== 1) {
      const named = given[1] ?? "db";
      throw new ConfigError(
        named,
        sources.get(named) ?? { kind: "default" },
        "exactly one of --db, --url or --receipt",
        given.length === 0 ? "none" : given.join(" and "),
      );
    }
    // A receipt checked with the key it carries proves nothing: the log's key is required.
    if (c.receipt !== undefined && c.vkey === undefined) {
      throw new ConfigError(
        "vkey",
        sources.get("vkey") ?? { kind: "default" },
        "the log's C2SP verifier key (GET /checkpoint's vkey) to check a receipt with",
        "none",
      );
    }
    // A key that does not parse is a usage mistake, not a ledger that fails to verify.
    if (c.vkey !== undefined && !parseVkey(c.vkey)) {
      throw new ConfigError(
        "vkey",
        sources.get("vkey") ?? { kind: "default" },
        "a C2SP verifier key (name+8 hex digits+base64 Ed25519 key)",
        JSON.stringify(c.vkey.slice(0, 80)),
      );
    }
  },
});

/** Runs the verify sub-verb. */
export const verifyCommand: Command = {
  spec: verifySpec,
  usage: () => verifySpec.usage(),
  async run(argv) {
    const loaded = await verifySpec.parse(argv);
    if (loaded.help) {
      print(verifySpec.usage());
      return 0;
    }
    const c = loaded.config;
    const db = c.db;
    if (db !== undefined) {
      const source = loaded.sources.get("db") ?? { kind: "default" as const };
      const r = isPostgresUrl(db)
        ? await verifyPostgres(db, source, {
          password: resolveSecretSetting("db_password", c.db_password),
          vkey: c.vkey,
          readTimeoutMs: c.timeout,
        })
        : await verifyFile(db, source, c.vkey);
      if (!r.ok) {
        throw new CheckFailedError(`verify failed: first bad index ${r.bad_index}: ${r.reason}`);
      }
      // Checked with the key the log itself names, the result says nothing of who signed it.
      const key = c.vkey !== undefined ? "" : ` (signed by the vkey the log stores, not pinned: ` +
        `${r.vkey}; pin the log's key with --vkey)`;
      print(
        `ok: ${r.entries} entries, ${r.checkpoints} checkpoints verified; root ${r.root_hash}` +
          key,
      );
      return 0;
    }
    if (c.receipt !== undefined) {
      const source = loaded.sources.get("receipt") ?? { kind: "default" as const };
      const r = await verifyReceiptFile(c.receipt, source, c.vkey!);
      if (!r.ok) throw new CheckFailedError(`verify failed: ${r.what}: ${r.reason}`);
      print(`ok: ${r.what}`);
      return 0;
    }
    if (c.url === undefined) {
      throw new ConfigError("url", { kind: "default" }, "--db, --url or --receipt", "none");
    }
    const r = await checkLiveLog({
      url: c.url,
      stateFile: c.state_file,
      vkey: c.vkey,
      timeoutMs: c.timeout,
    }).catch((err) => {
      // A state file that is not one is a usage mistake (exit 2), not a log that failed.
      if (!(err instanceof MonitorStateError)) throw err;
      throw new ConfigError(
        "state_file",
        loaded.sources.get("state_file") ?? { kind: "default" },
        "a state file written by iatp audit verify, or none",
        `${err.path}: ${err.why}`,
        { cause: err },
      );
    });
    if (!r.ok) throw new CheckFailedError(`verify failed: ${r.url}: ${r.reason}`);
    const since = r.previous_size === undefined
      ? r.trusted_on_first_use ? " (first check: key trusted on first use)" : " (first check)"
      : `, consistent with ${r.previous_size}`;
    print(`ok: ${r.url} checkpoint ${r.tree_size} root ${r.root_hash}${since}`);
    return 0;
  },
};

async function verifyFile(
  db: string,
  source: ConfigSource,
  vkey: string | undefined,
): Promise<VerifyReport> {
  const info = await Deno.stat(db).catch((err) => {
    if (err instanceof Deno.errors.NotCapable) throw err; // reported as a denied path
    const why = err instanceof Deno.errors.NotFound ? "no such file" : errorMessage(err);
    throw new ConfigError("db", source, "an existing ledger file", `${db}: ${why}`, {
      cause: err,
    });
  });
  if (!info.isFile) {
    throw new ConfigError("db", source, "an existing ledger file", `${db}: not a file`);
  }
  try {
    return await verifyLedgerFile(db, { vkey });
  } catch (err) {
    const why = errorMessage(err);
    // Not a database at all: the wrong file, a usage mistake (exit 2).
    if (/file is not a database|file is encrypted/.test(why)) {
      throw new ConfigError("db", source, "a ledger file written by iatp audit", `${db}: ${why}`, {
        cause: err,
      });
    }
    // A database without a table of the ledger's fails verification (exit 1), as a PostgreSQL
    // database without them does, naming the table.
    const missing = /no such table: (\w+)/.exec(why);
    if (missing) {
      return {
        ok: false,
        entries: 0,
        checkpoints: 0,
        bad_index: 0,
        reason: `not a ledger: no table ${missing[1]}`,
      };
    }
    throw err;
  }
}

async function verifyPostgres(
  url: string,
  source: ConfigSource,
  opts: { password?: string; vkey?: string; readTimeoutMs: number },
): Promise<VerifyReport> {
  // The PostgreSQL client (core/engine) loads only with a postgres:// db.
  const { checkPostgres, connectPostgres, privilegeError } = await lateImport<
    typeof import("../../core/engine/mod.ts")
  >("../../core/engine/mod.ts", import.meta.url);
  const pg = await connectPostgres({
    url,
    setting: "db",
    source,
    password: opts.password,
    maxConnections: 1,
    // Standbys are not picked: postgres.js 3.4 drops a lone primary under "prefer-standby".
    targetSessionAttrs: "primary",
    applicationName: "iatp-audit-verify",
  });
  // The check's own transaction runs with no server-side timeout (a large ledger reads long), so
  // a server that stops answering (stopped, cut off, a lock held on a table) is noticed here: no
  // read answered within `timeout` ends the check. The client cannot cancel a read in flight (its
  // socket closes only once the server lets go), so the check stops waiting for it instead.
  let lastAnswer = Date.now();
  const stall = Promise.withResolvers<never>();
  let stalled = false;
  const watchdog = every(Math.max(10, Math.min(1_000, opts.readTimeoutMs / 4)), () => {
    if (stalled || Date.now() - lastAnswer <= opts.readTimeoutMs) return;
    stalled = true;
    stall.reject(
      new CheckFailedError(
        `verify could not finish: ${pg.label} answered no read for ${opts.readTimeoutMs} ms ` +
          "(timeout)",
      ),
    );
  });
  const progress = () => lastAnswer = Date.now();
  const check = async () => {
    await checkPostgres(pg, "db", source);
    progress();
    return await verifyLedgerPostgres(pg, { vkey: opts.vkey, progress });
  };
  try {
    return await Promise.race([check(), stall.promise]);
  } catch (err) {
    if (stalled) throw err;
    if (err instanceof NewerSchemaError) {
      throw newerSchemaError("db", source, err, "a ledger database");
    }
    throw privilegeError(err, pg, "db", "a database user that may read the ledger tables", source);
  } finally {
    watchdog.cancel();
    // A stalled server may never let the connection close: the process ends without waiting.
    if (stalled) pg.close(0).catch(() => {});
    else await pg.close();
  }
}

/**
 * Checks a receipt file offline: the entry's leaf, its inclusion proof up to the receipt's root,
 * and the checkpoint signed by `vkeyText` for that size and root, under the vkey's name as origin.
 * The file is an entry with its receipt as `GET /entries/{index}` (or an item of `GET /tx/{id}`)
 * answers; under `compat: upstream` the signed time is its `ts_iso`.
 */
async function verifyReceiptFile(
  file: string,
  source: ConfigSource,
  vkeyText: string,
): Promise<{ ok: boolean; what: string; reason?: string }> {
  const expected = "an entry with its receipt (the JSON GET /entries/{index} answers)";
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readTextWithin(file));
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) throw err; // reported as a denied path
    // Not JSON is said without quoting the file (it may be a credential given by mistake).
    const why = err instanceof SyntaxError ? "not JSON" : unreadableWhy(err);
    throw new ConfigError("receipt", source, expected, `${file}: ${why}`, { cause: err });
  }
  const e = (parsed ?? {}) as Record<string, unknown>;
  if (typeof e !== "object" || typeof e.receipt !== "object" || e.receipt === null) {
    throw new ConfigError("receipt", source, expected, `${file}: no receipt in it`);
  }
  const entry = {
    index: e.index as number,
    tx_id: e.tx_id as string,
    event: e.event as string,
    actor: e.actor as string,
    payload: e.payload as Record<string, unknown>,
    ts: (typeof e.ts_iso === "string" ? e.ts_iso : e.ts) as string,
  };
  const what = `entry ${Number.isSafeInteger(entry.index) ? entry.index : "?"}`;
  const verifier = parseVkey(vkeyText)!;
  // With the key, verifyReceipt also checks the signature under its name and the origin line.
  const r = await verifyReceipt(entry, e.receipt as Receipt, { key: verifier });
  if (!r.ok) return { ok: false, what, reason: r.reason };
  const opened = await openCheckpoint((e.receipt as Receipt).checkpoint);
  if ("reason" in opened) return { ok: false, what, reason: opened.reason };
  const cp = opened.checkpoint;
  return {
    ok: true,
    what: `${what} is in checkpoint ${cp.treeSize} root ${encodeHex(cp.rootHash)} of ` +
      verifier.name,
  };
}
