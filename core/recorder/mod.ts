/**
 * Flight recorder: a bounded in-memory ring of scrubbed trace records with an optional durable
 * SQLite or JSONL store.
 * @module
 */
export * from "./record.ts";
export * from "./ring.ts";
export * from "./store.ts";
