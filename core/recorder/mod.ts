/**
 * Flight recorder: a bounded in-memory ring of scrubbed trace records with an optional durable
 * SQLite or JSONL store.
 * @module
 */
export { isValidTraceId, RECORD_TYPES, type RecordType, type TraceRecord } from "./record.ts";
export { DEFAULT_TRACE_CAPACITY, FlightRecorder } from "./ring.ts";
export {
  DEFAULT_STORE_MAX_ROWS,
  openRecordStore,
  type RecordStore,
  type StoreOptions,
} from "./store.ts";
