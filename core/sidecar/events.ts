/**
 * Optional fan-out of flight-recorder records: every record to the relay (topic `iatp.trace`),
 * every decision to the audit ledger. Both clients queue in bounded buffers and send in the
 * background, so a slow or dead relay or ledger never blocks or fails a request.
 * @module
 */
import { settledWithin } from "../async/mod.ts";
import { AuditClient } from "../ledger/client/mod.ts";
import type { Logger } from "../log/mod.ts";
import type { TraceRecord } from "../recorder/mod.ts";
import { RelayClient } from "../relay/client/mod.ts";

/** Relay topic for sidecar flight-recorder events. */
const TRACE_TOPIC = "iatp.trace";

/** Where records go besides the recorder. */
export interface EventSink {
  /** False when records go nowhere (neither relay nor ledger): then nobody need call onRecord. */
  readonly enabled: boolean;
  onRecord(record: TraceRecord): void;
  /**
   * Why records do not reach where they go, while they do not: the relay not taking them or
   * refusing the latest for good, the ledger out of reach or refusing the latest decision.
   */
  problem(): string | undefined;
  close(): Promise<void>;
}

/** The relay/audit decision a record carries, if it carries one. */
function decisionOf(record: TraceRecord): "allow" | "block" | "warn" | undefined {
  switch (record.type) {
    case "blocked":
      return "block";
    case "warning":
      return "warn";
    case "response":
      return "allow";
    default:
      return undefined;
  }
}

/** Options for {@linkcode createEventSink}. */
export interface EventSinkOptions {
  agentId: string;
  /** The relay to publish every record to (topic {@linkcode TRACE_TOPIC}); unset: none. */
  relayUrl?: string;
  /** Credential with `publish:iatp.trace`, when the relay requires one. */
  relayToken?: string;
  /** Deadline of one publish to the relay. */
  relayTimeoutMs?: number;
  /** How long close() waits for the events buffered for the relay. */
  relayFlushTimeoutMs?: number;
  /** The audit ledger to append every decision to; unset: none. */
  auditUrl?: string;
  /** Credential with `audit:append`, when the ledger requires one. */
  auditToken?: string;
  /** Deadline of one append to the ledger. */
  auditTimeoutMs?: number;
  /** How long close() waits for the appends queued for the ledger. */
  auditFlushTimeoutMs?: number;
  log: Logger;
  /** Longest close() waits for queued events to be delivered. */
  closeTimeoutMs?: number;
}

/** Builds the sink; with neither URL it does nothing. */
export function createEventSink(opts: EventSinkOptions): EventSink {
  const relay = opts.relayUrl
    ? new RelayClient({
      url: opts.relayUrl,
      token: opts.relayToken || undefined,
      log: opts.log,
      requestTimeoutMs: opts.relayTimeoutMs,
      flushTimeoutMs: opts.relayFlushTimeoutMs,
    })
    : undefined;
  const audit = opts.auditUrl
    ? new AuditClient({
      url: opts.auditUrl,
      token: opts.auditToken,
      log: opts.log,
      timeoutMs: opts.auditTimeoutMs,
      flushTimeoutMs: opts.auditFlushTimeoutMs,
    })
    : undefined;
  return {
    enabled: relay !== undefined || audit !== undefined,
    onRecord(record) {
      const decision = decisionOf(record);
      const status = record.details.status;
      relay?.publish(TRACE_TOPIC, {
        ...(decision ? { decision } : {}),
        trace_id: record.trace_id,
        type: record.type,
        agent_id: opts.agentId,
        ...(typeof status === "number" ? { status } : {}),
        timestamp: record.timestamp,
        details: record.details,
      });
      if (audit && decision) {
        audit.enqueue({
          tx_id: record.trace_id,
          event: `iatp.${decision}`,
          actor: opts.agentId,
          payload: { decision, trace_id: record.trace_id, ...record.details },
        }, { idempotencyKey: `${record.trace_id}:${record.type}:${record.timestamp}` });
      }
    },
    problem() {
      const problems: string[] = [];
      const published = relay?.publishHealth();
      if (published && !published.ok) problems.push(`relay: ${published.reason}`);
      const held = audit?.held;
      if (held) problems.push(`audit: decisions wait for the ledger: ${held.reason}`);
      const refused = audit?.refused;
      if (refused !== undefined) {
        problems.push(
          `audit: the latest decision was refused by the ledger and dropped: ${refused}`,
        );
      }
      return problems.length > 0 ? problems.join("; ") : undefined;
    },
    async close() {
      // Delivery is best effort: shutdown waits a bounded time for the queues, never forever.
      await settledWithin(
        Promise.allSettled([relay?.close(), audit?.close()]),
        opts.closeTimeoutMs ?? 5_000,
      );
    },
  };
}
