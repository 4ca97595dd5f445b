/**
 * The audit service's HTTP routes: thin adapters from Request to the Ledger and back. Every
 * ledger error type is mapped to its status here, and only here. Appends need `audit:append`
 * when auth is on; reads stay public, since third-party verification is the point of a ledger.
 *
 * Under `compat: upstream` (the default) `POST /audit` and `GET /tx/{id}` answer as the IG&S
 * audit service: 200 `{acl_txn, proof{hash}, ts}` (iatp's `transactionId`, `index`,
 * `leaf_hash` and `receipt` beside them), `payload` required, invalid input 422 with `detail`,
 * and the transaction's entries as a list (each with `ledger_id` and float `ts`, the signed
 * ISO time as `ts_iso`). Under `compat: iatp`: 201, `payload` defaulting to `{}`, 400, and
 * `{tx_id, entries}`.
 * @module
 */
import { lateImport } from "../config/mod.ts";
import {
  createMeshAuth,
  type MeshAuthSettings,
  principalOf,
  requireMeshScope,
} from "../auth/mod.ts";
import { type CompatMode, epochSeconds, parseInput, readJsonInput } from "../compat/mod.ts";
import type { AuditAppendResponse, AuditLog, EntryWithReceipt } from "./entry.ts";
import {
  IdempotencyConflictError,
  LedgerBusyError,
  LedgerCorruptError,
  LedgerRangeError,
} from "./errors.ts";
import { CanonicalJsonError } from "../encoding/mod.ts";
import { HttpError } from "../errors/mod.ts";
import { type App, errorBody, readExactJson } from "../http/mod.ts";

/** Longest Idempotency-Key accepted. */
const MAX_IDEMPOTENCY_KEY_CHARS = 256;
/**
 * An Idempotency-Key: printable ASCII (a field value's other bytes arrive one character per
 * byte, so a key beyond ASCII would be stored and echoed garbled).
 */
const IDEMPOTENCY_KEY = new RegExp(`^[\\x20-\\x7e]{1,${MAX_IDEMPOTENCY_KEY_CHARS}}$`);
/** Seconds a client is told to wait when the append queue is full. */
const RETRY_AFTER_SECONDS = 1;

/** The body schemas (zod, about 8 MB idle): imported with the first append, not at start. */
let schemas: Promise<typeof import("./append_schema.ts")> | undefined;
const appendSchemas = () =>
  schemas ??= lateImport<typeof import("./append_schema.ts")>(
    "./append_schema.ts",
    import.meta.url,
  );

/** The append answer under `compat: upstream`: the IG&S fields with iatp's beside them. */
function upstreamAppendAnswer(res: AuditAppendResponse, nowMs: number) {
  return {
    acl_txn: res.transactionId,
    proof: { hash: res.leaf_hash, ...res.receipt },
    ts: epochSeconds(nowMs),
    ...res,
  };
}

/** A ledger entry as the IG&S audit service lists it: `ledger_id`, float `ts`, iatp's beside. */
function upstreamEntry(e: EntryWithReceipt) {
  return { ...e, ledger_id: String(e.index), ts: epochSeconds(Date.parse(e.ts)), ts_iso: e.ts };
}

/** What the audit routes need besides the ledger. */
export interface AuditRoutesOptions {
  /** Most entries `GET /tx/{id}` returns. */
  maxTxEntries: number;
  /** The mesh-auth settings checked at start (core/auth/mesh); default: open. */
  auth?: MeshAuthSettings;
  compat?: CompatMode;
}

const INDEX = /^(0|[1-9][0-9]{0,14})$/;

/**
 * A query parameter that names one value: the value, or undefined when it is absent.
 * @throws {HttpError} 400 when it is given more than once (which one counts would be a guess).
 */
function oneQuery(
  c: { req: { queries(name: string): string[] | undefined } },
  name: string,
): string | undefined {
  const values = c.req.queries(name);
  if (values !== undefined && values.length > 1) {
    throw new HttpError(400, `${name} is given more than once`, { param: name });
  }
  return values?.[0];
}

function intParam(value: string | undefined, name: string, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (value === undefined || !INDEX.test(value)) {
    throw new HttpError(400, `${name} must be a non-negative integer of at most 15 digits`, {
      param: name,
    });
  }
  return Number(value);
}

function ledgerError(err: unknown): never {
  if (err instanceof CanonicalJsonError) throw new HttpError(400, err.message);
  // A store changed outside the ledger: said as it is (its message names no path), never served.
  if (err instanceof LedgerCorruptError) throw new HttpError(500, err.message);
  if (err instanceof IdempotencyConflictError) throw new HttpError(409, err.message);
  if (err instanceof LedgerRangeError) throw new HttpError(400, err.message);
  throw err;
}

/**
 * Registers the ledger routes on a service app. Appends are guarded by the authenticator built
 * here from `opts.auth`, the settings checked at start (default: open); this module, and with
 * it the verifier, loads with the first request the app serves ({@linkcode registerAuditRoutes}
 * of on_demand.ts), before any route is served.
 */
export function registerAuditRoutes(app: App, ledger: AuditLog, opts: AuditRoutesOptions) {
  const auth = createMeshAuth(opts.auth ?? {});
  const compat = opts.compat ?? "upstream";
  app.post("/audit", requireMeshScope(auth, "audit:append"), async (c) => {
    // Only a browser sends Origin, and no page of any site appends: a plain post needs no
    // preflight, so without this a page a browser visits could append to a ledger open on
    // loopback, for good.
    if (c.req.header("origin") !== undefined) {
      throw new HttpError(403, "appends from a browser page are refused");
    }
    // Exact bytes in: a value the ledger cannot store as sent is refused naming the field.
    const raw = await readJsonInput(compat, () => readExactJson(c.req.raw));
    const { appendSchema, upstreamAppendSchema } = await appendSchemas();
    const schema = compat === "upstream" ? upstreamAppendSchema : appendSchema;
    const body = parseInput(compat, schema, raw, "invalid audit entry");
    const principal = principalOf(c);
    if (principal && !principal.grants.mayAppendAs(body.actor)) {
      throw new HttpError(403, `this credential may not append entries with actor "${body.actor}"`);
    }
    const key = c.req.header("idempotency-key");
    if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
      throw new HttpError(
        400,
        `Idempotency-Key must be 1 to ${MAX_IDEMPOTENCY_KEY_CHARS} printable ASCII characters`,
      );
    }
    try {
      const res = await ledger.append(body, { idempotencyKey: key });
      if (compat === "iatp") return c.json(res, 201);
      return c.json(upstreamAppendAnswer(res, Date.now()), 200);
    } catch (err) {
      if (err instanceof LedgerBusyError) {
        c.header("Retry-After", String(RETRY_AFTER_SECONDS));
        return c.json(errorBody(err.message, c.get("requestId")), 503);
      }
      return ledgerError(err);
    }
  });

  app.get("/tx/:tx_id", async (c) => {
    const txId = c.req.param("tx_id");
    const entries = await Promise.resolve()
      .then(() => ledger.entriesForTx(txId, opts.maxTxEntries))
      .catch(ledgerError);
    if (compat === "upstream") return c.json(entries.map(upstreamEntry));
    return c.json({ tx_id: txId, entries });
  });

  app.get("/entries/:index", async (c) => {
    const index = intParam(c.req.param("index"), "index");
    const entry = await Promise.resolve().then(() => ledger.entry(index)).catch(ledgerError);
    if (!entry) throw new HttpError(404, `no entry ${index} (log has ${await ledger.treeSize()})`);
    return c.json(entry);
  });

  app.get("/checkpoint", async (c) => {
    const cp = await ledger.signedCheckpoint();
    if ((c.req.header("accept") ?? "").includes("application/json")) {
      return c.json({
        origin: ledger.origin,
        tree_size: cp.tree_size,
        root_hash: cp.root_hash_hex,
        checkpoint: cp.note,
        vkey: ledger.vkey,
      });
    }
    return c.body(cp.note, 200, { "content-type": "text/plain; charset=utf-8" });
  });

  app.get("/proof/inclusion", async (c) => {
    const index = intParam(oneQuery(c, "index"), "index");
    const size = intParam(oneQuery(c, "tree_size"), "tree_size", await ledger.treeSize());
    try {
      return c.json(await ledger.inclusion(index, size));
    } catch (err) {
      return ledgerError(err);
    }
  });

  app.get("/proof/consistency", async (c) => {
    const first = intParam(oneQuery(c, "first"), "first");
    const second = intParam(oneQuery(c, "second"), "second", await ledger.treeSize());
    try {
      return c.json(await ledger.consistency(first, second));
    } catch (err) {
      return ledgerError(err);
    }
  });
}
