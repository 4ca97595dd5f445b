/**
 * The relay-driven decision loop: subscribe to `access.intent`, decide each tx_id exactly once
 * (decision and relay position recorded durably before anything is published), publish
 * `access.decision`, and append the decision to the audit ledger under an idempotency key.
 * Decisions recorded but not yet delivered (relay or audit down, or a crash) are re-delivered
 * on start and on a timer, never re-decided.
 * @module
 */
import type { AuditClient } from "../ledger/client.ts";
import type { Logger } from "../log/mod.ts";
import type { RelayClient, RelayEvent, Subscription } from "../relay/client.ts";
import type { Decision, PolicyEngine } from "./engine.ts";
import { intentSchema } from "./intent.ts";
import type { DecisionState } from "./state.ts";

/** Topic intents arrive on. */
export const INTENT_TOPIC = "access.intent";
/** Topic decisions are published on. */
export const DECISION_TOPIC = "access.decision";
/** Undelivered decisions retried per round. */
export const REDELIVER_BATCH = 100;

/** Options for {@linkcode DecisionBridge}. */
export interface BridgeOptions {
  relay: RelayClient;
  audit?: AuditClient;
  engine: PolicyEngine;
  state: DecisionState;
  log: Logger;
  /** How often undelivered decisions are retried. */
  redeliverMs: number;
  /** Called after each decision is recorded (metrics). */
  onDecision?: (d: Decision) => void;
}

/** Runs the loop until closed. */
export class DecisionBridge {
  #sub: Subscription | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #redelivering: Promise<void> | undefined;
  /** tx_ids being delivered right now, so the retry round never sends one twice at once. */
  readonly #inFlight = new Set<string>();

  constructor(readonly o: BridgeOptions) {}

  /** Re-delivers leftovers, then subscribes from the saved position (or the start of history). */
  async start(): Promise<void> {
    await this.redeliver();
    this.#sub = this.o.relay.subscribe([INTENT_TOPIC], (e) => this.#onIntent(e), {
      since: this.o.state.position() ?? "0",
      onStatus: (s, err) => this.o.log.info(`relay subscription ${s}`, err ? { err } : {}),
    });
    this.#timer = setInterval(() => void this.redeliver(), this.o.redeliverMs);
  }

  async #onIntent(e: RelayEvent): Promise<void> {
    const payload = e.payload ?? {};
    const txId = typeof payload.tx_id === "string" && payload.tx_id !== ""
      ? payload.tx_id
      : e.event_id;
    if (this.o.state.decided(txId)) {
      this.o.state.setPosition(e.id);
      return;
    }
    const parsed = intentSchema.safeParse(payload);
    const decision: Decision = parsed.success
      ? this.o.engine.evaluate(parsed.data, txId)
      : this.#malformed(txId, parsed.error.issues);
    this.o.state.record(decision, e.id);
    this.o.onDecision?.(decision);
    await this.#deliver(decision);
  }

  #malformed(txId: string, issues: Array<{ path: PropertyKey[]; message: string }>): Decision {
    return {
      tx_id: txId,
      decision: "deny",
      obligations: {},
      risk_after: null,
      explanation: {
        determining_policies: [],
        errors: issues.map((i) => ({
          policy: "intent",
          message: `${i.path.map(String).join(".") || "(root)"}: ${i.message}`,
        })),
      },
      policy_ref: this.o.engine.bundle.ref,
      ts: new Date().toISOString(),
    };
  }

  async #deliver(d: Decision): Promise<boolean> {
    if (this.#inFlight.has(d.tx_id)) return true;
    this.#inFlight.add(d.tx_id);
    try {
      await this.o.relay.publishNow(DECISION_TOPIC, { ...d });
      await this.o.audit?.append(
        { tx_id: d.tx_id, event: DECISION_TOPIC, actor: "policy", payload: { ...d } },
        { idempotencyKey: `policy-decision:${d.tx_id}` },
      );
      this.o.state.markDelivered(d.tx_id);
      return true;
    } catch (err) {
      this.o.log.warn("decision not delivered yet; will retry", {
        tx_id: d.tx_id,
        err: String(err),
      });
      return false;
    } finally {
      this.#inFlight.delete(d.tx_id);
    }
  }

  /** Delivers recorded-but-undelivered decisions (after a crash or an outage). */
  redeliver(): Promise<void> {
    return this.#redelivering ??= (async () => {
      try {
        for (const d of this.o.state.undelivered(REDELIVER_BATCH)) {
          if (!(await this.#deliver(d))) break;
        }
      } finally {
        this.#redelivering = undefined;
      }
    })();
  }

  /** Stops the subscription and the retry timer. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#sub?.close();
    await this.#redelivering;
  }
}
