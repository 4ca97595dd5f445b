/**
 * The flight recorder shared by replicas on Redis: each trace is one list (`iatp:trace:<id>`)
 * trimmed to the newest `traceCap` records and expiring `ttlMs` after its last record, so any
 * replica answers `/trace/{id}` for a request another one served. Writes leave the request path
 * at once (pipelined on the one connection, so this replica reads its own writes); while Redis is
 * unreachable they wait in a bounded backlog, written in order on reconnection.
 * @module
 */
import { deadline } from "../async/mod.ts";
import type { RedisHandle } from "../engine/mod.ts";
import { errorMessage, UnavailableError } from "../errors/mod.ts";
import { type Logger, silentLogger } from "../log/mod.ts";
import { RECORD_TYPES, type TraceRecord } from "./record.ts";

/** Default time a trace is kept after its last record (24 h). */
export const DEFAULT_SHARED_TTL_MS = 24 * 60 * 60 * 1000;
/** Default newest records kept per trace. */
export const DEFAULT_SHARED_TRACE_CAP = 1_000;
/** Default records waiting (in flight or for reconnection) before new ones are dropped. */
export const DEFAULT_SHARED_BACKLOG = 10_000;
/**
 * Default wait for the shared recorder's Redis connection, and for one of its commands (declared
 * here, not taken from core/engine, so that a configuration naming no `recorder_url` loads
 * nothing of the database clients).
 */
export const DEFAULT_SHARED_CONNECT_TIMEOUT_MS = 5_000;
export const DEFAULT_SHARED_COMMAND_TIMEOUT_MS = 5_000;
/** Writes sent and not yet answered; later records wait in the backlog. */
const MAX_IN_FLIGHT = 256;
/** Seconds a lookup is told to wait while Redis is unreachable. */
const RETRY_AFTER_SECONDS = 1;
const KEY_PREFIX = "iatp:trace:";

/** A record store shared by replicas (lookups are asynchronous). */
export interface SharedRecordStore {
  /** Sends a record; never blocks or throws. */
  append(record: TraceRecord): void;
  /**
   * Records of one trace, oldest first, as every replica wrote them.
   * @throws {UnavailableError} while the store is unreachable.
   */
  find(traceId: string): Promise<TraceRecord[]>;
  /** Records dropped (backlog full, or refused by the server). */
  readonly dropped: number;
  /** Writes what waits (while connected) and closes the connection. */
  close(): Promise<void>;
}

/** Options of {@linkcode RedisRecordStore}. */
export interface RedisStoreOptions {
  /** @default DEFAULT_SHARED_TTL_MS */
  ttlMs?: number;
  /** @default DEFAULT_SHARED_TRACE_CAP */
  traceCap?: number;
  /** @default DEFAULT_SHARED_BACKLOG */
  maxBacklog?: number;
  log?: Logger;
}

/** See the module doc. */
export class RedisRecordStore implements SharedRecordStore {
  readonly #redis: RedisHandle;
  readonly #ttlMs: number;
  readonly #cap: number;
  readonly #maxBacklog: number;
  readonly #log: Logger;
  /** Records not yet acknowledged by Redis, oldest first. */
  #backlog: TraceRecord[] = [];
  #inFlight = 0;
  #sending = new Set<Promise<void>>();
  #dropped = 0;
  #closed = false;
  /** A write failed and none has succeeded since (one log line per run of failures). */
  #failing = false;

  /** @param redis a connected client (see core/engine), closed by {@linkcode close} */
  constructor(redis: RedisHandle, opts: RedisStoreOptions = {}) {
    this.#redis = redis;
    this.#ttlMs = opts.ttlMs ?? DEFAULT_SHARED_TTL_MS;
    this.#cap = opts.traceCap ?? DEFAULT_SHARED_TRACE_CAP;
    this.#maxBacklog = opts.maxBacklog ?? DEFAULT_SHARED_BACKLOG;
    this.#log = opts.log ?? silentLogger;
    redis.client.on("ready", () => this.#pump());
  }

  get dropped(): number {
    return this.#dropped;
  }

  append(record: TraceRecord): void {
    if (this.#closed) {
      this.#dropped++;
      return;
    }
    this.#hold(record);
    this.#pump();
  }

  async find(traceId: string): Promise<TraceRecord[]> {
    if (!this.#redis.ready) throw this.#unavailable();
    let raw: string[];
    try {
      raw = await deadline(
        this.#redis.client.lRange(KEY_PREFIX + traceId, 0, -1),
        this.#redis.commandTimeoutMs,
      );
    } catch (err) {
      throw this.#unavailable(err);
    }
    const out: TraceRecord[] = [];
    for (const text of raw) {
      const rec = parseRecord(text);
      if (rec && rec.trace_id === traceId) out.push(rec);
    }
    return out;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const before = this.#dropped;
    const drained = await deadline(this.#settle(), this.#redis.commandTimeoutMs).then(
      () => true,
      () => false,
    );
    if (!drained) {
      this.#redis.destroy(); // a hung server: the writes still in flight are dropped
      await deadline(this.#settle(), this.#redis.commandTimeoutMs).catch(() => {});
    }
    this.#dropped += this.#backlog.length;
    this.#backlog = [];
    if (this.#dropped > before) {
      this.#log.warn("shared flight recorder closed with unsent records", {
        records: this.#dropped - before,
      });
    }
    if (drained) await this.#redis.close();
  }

  /** Resolves once no write is in flight. */
  async #settle(): Promise<void> {
    while (this.#sending.size > 0) await Promise.all(this.#sending);
  }

  /** Queues for reconnection; the oldest record goes first when the backlog is full. */
  #hold(record: TraceRecord): void {
    if (this.#backlog.length >= this.#maxBacklog) {
      this.#backlog.shift();
      this.#dropped++;
    }
    this.#backlog.push(record);
  }

  /** Sends waiting records in order, up to the in-flight bound, while connected. */
  #pump(): void {
    while (this.#redis.ready && this.#inFlight < MAX_IN_FLIGHT) {
      const next = this.#backlog.shift();
      if (!next) return;
      this.#send(next);
    }
  }

  #send(record: TraceRecord): void {
    const key = KEY_PREFIX + record.trace_id;
    this.#inFlight++;
    const p = this.#redis.client.multi()
      .rPush(key, JSON.stringify(record))
      .lTrim(key, -this.#cap, -1)
      .pExpire(key, this.#ttlMs)
      .exec()
      .then(() => {
        this.#failing = false;
      }, (err: unknown) => {
        if (!this.#redis.ready && !this.#closed) {
          // Lost with the connection: written again (after what waits) on reconnection.
          this.#hold(record);
          return;
        }
        this.#dropped++;
        if (!this.#closed && !this.#failing) {
          this.#log.error("shared flight recorder write failed; records are being dropped", {
            err: errorMessage(err),
          });
        }
        this.#failing = true;
      })
      .finally(() => {
        this.#inFlight--;
        this.#sending.delete(p);
        this.#pump();
      });
    this.#sending.add(p);
  }

  #unavailable(cause?: unknown): UnavailableError {
    return new UnavailableError(
      `Redis ${this.#redis.label} is unreachable; retry later`,
      RETRY_AFTER_SECONDS,
      { cause },
    );
  }
}

const TYPES = new Set<string>(RECORD_TYPES);

/** A stored record, or undefined when the text is not one (another writer's key, say). */
function parseRecord(text: string): TraceRecord | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const r = v as Record<string, unknown>;
  if (
    typeof r.type !== "string" || !TYPES.has(r.type) || typeof r.trace_id !== "string" ||
    typeof r.timestamp !== "string" || typeof r.details !== "object" || r.details === null
  ) return undefined;
  return r as unknown as TraceRecord;
}
