/**
 * Flight recorder: a bounded in-memory ring of scrubbed trace records with an optional durable
 * SQLite or JSONL store, and an optional store on Redis shared by replicas.
 * @module
 */
export { isValidTraceId, RECORD_TYPES, type RecordType, type TraceRecord } from "./record.ts";
export {
  DEFAULT_SHARED_BACKLOG,
  DEFAULT_SHARED_COMMAND_TIMEOUT_MS,
  DEFAULT_SHARED_CONNECT_TIMEOUT_MS,
  DEFAULT_SHARED_TRACE_CAP,
  DEFAULT_SHARED_TTL_MS,
  RedisRecordStore,
  type RedisStoreOptions,
  type SharedRecordStore,
} from "./redis_store.ts";
export {
  DEFAULT_PAYLOAD_BYTES,
  DEFAULT_TRACE_CAPACITY,
  FlightRecorder,
  PackedDetails,
  type PackedFields,
  type RecordDetails,
} from "./ring.ts";
export {
  DEFAULT_JSONL_MAX_BYTES,
  DEFAULT_STORE_MAX_ROWS,
  openRecordStore,
  type RecordStore,
  type StoreOptions,
} from "./store.ts";
