/**
 * The relay-driven decision loop: subscribe to `access.intent`, decide each tx_id exactly once
 * (decision and relay position recorded durably before anything is published), publish
 * `access.decision`, and append the decision to the audit ledger under an idempotency key.
 * Decisions recorded but not yet delivered (relay or audit down, or a crash) are re-delivered
 * on start and on a timer, never re-decided.
 *
 * Every intent gets exactly one decision: one that cannot be evaluated (a wrong shape, a lone
 * UTF-16 surrogate, an engine error) is decided `deny` with the errors in its explanation, and
 * published and audited like any other. A decision the relay or ledger refuses for good (a 4xx)
 * is logged and not retried, so it never holds up the ones after it. A decision the state store
 * cannot record (a full or read-only disk, a locked file) is not skipped: the loop stops at that
 * intent and subscribes again from the last recorded position every redelivery interval, until
 * the store takes it.
 * @module
 */
import { delayOf } from "../async/mod.ts";
import type { CompatMode } from "../compat/mod.ts";
import { errorReason, isValidationError } from "../errors/mod.ts";
import { canonicalize, CanonicalJsonError } from "../encoding/mod.ts";
import { type AuditClient, AuditClientError } from "../ledger/client/mod.ts";
import { isoTimestamp, type Logger } from "../log/mod.ts";
import type { ComponentHealth } from "../http/mod.ts";
import {
  type RelayClient,
  RelayError,
  type RelayEvent,
  type Subscription,
  type SubscriptionStatus,
} from "../relay/client/mod.ts";
import type { Decision, PolicyEngine } from "./engine.ts";
import {
  type IntentReader,
  loadIntentReader,
  MAX_INTENT_STRING,
  SessionRiskError,
} from "./intent.ts";
import { decisionKey, decisionRelayKey, decisionWire } from "./wire.ts";
import type { DecisionState } from "./state.ts";

/** Topic intents arrive on. */
export const INTENT_TOPIC = "access.intent";
/** Topic decisions are published on. */
const DECISION_TOPIC = "access.decision";
/** Undelivered decisions retried per round. */
const REDELIVER_BATCH = 100;

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
  /** How intents are read and decisions written (the service's setting; default upstream). */
  compat?: CompatMode;
  /** `risk_after` of an intent without a session risk (upstream: 50). */
  missingRisk?: number;
}

/** Runs the loop until closed. */
export class DecisionBridge {
  #sub: Subscription | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #redelivering: Promise<void> | undefined;
  /** tx_ids being delivered right now, so the retry round never sends one twice at once. */
  readonly #inFlight = new Set<string>();
  /** Intents being handled right now (decided, recorded, delivered): a stop waits for them. */
  readonly #handling = new Set<Promise<void>>();
  #read: IntentReader | undefined;
  /** The subscription whose events count; one stopped by a failed write ignores any left. */
  #generation = 0;
  #resubscribe: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  /** The live subscription's state. */
  #relay: "connecting" | SubscriptionStatus = "connecting";
  /** Why the subscription is not connected: the latest failure, and how many in a row. */
  #relayError: { reason: string; failures: number } | undefined;
  /** Why the state store refused the intent the loop is held at. */
  #held: string | undefined;
  /** Why the latest delivery failed (relay or ledger out of reach), and since when. */
  #undelivered: { reason: string; since: string } | undefined;
  /** Why the relay or the ledger refused the latest decision for good (not retried), and since when. */
  #refused: { reason: string; since: string } | undefined;

  constructor(readonly o: BridgeOptions) {}

  /**
   * `/health`'s components: `state` (not ok while an intent is held because the store cannot
   * record its decision: a full or read-only disk, a locked file) and `relay` (ok while the
   * intent subscription is connected; not ok while it reconnects or has failed, with why) and
   * `delivery` (not ok while decisions cannot be published or appended to the ledger: they are
   * recorded and retried every redelivery interval; and while the latest decision was refused for
   * good, a credential without the scope say, which is not retried).
   */
  health(): Record<string, ComponentHealth> {
    const state: ComponentHealth = this.#held === undefined
      ? { ok: true }
      : { ok: false, reason: this.#held };
    // While held, the loop resubscribes every redelivery interval: the state says why.
    const status = this.#held === undefined ? this.#relay : "held";
    const relay: ComponentHealth = status === "connected" || status === "held"
      ? { ok: true, status }
      : {
        ok: false,
        status,
        reason: this.#sub?.failure() ?? this.#relayError?.reason ?? `subscription ${status}`,
        ...(status === "disconnected" && this.#relayError
          ? { failures: this.#relayError.failures }
          : {}),
      };
    const u = this.#undelivered;
    const delivery: ComponentHealth = u !== undefined
      ? {
        ok: false,
        reason: `decisions recorded but not delivered, retried every ${
          this.o.redeliverMs < 1000 ? `${this.o.redeliverMs} ms` : `${this.o.redeliverMs / 1000} s`
        }: ${u.reason}`,
        since: u.since,
      }
      : refusedHealth(this.#refused);
    return { state, relay, delivery };
  }

  /** Re-delivers leftovers, then subscribes from the saved position (or the start of history). */
  async start(): Promise<void> {
    this.#read = await loadIntentReader();
    await this.redeliver();
    this.#subscribe();
    this.#timer = setInterval(() => {
      this.redeliver().catch((err) =>
        this.o.log.warn("re-delivery round failed; next round later", { err: String(err) })
      );
    }, delayOf(this.o.redeliverMs));
  }

  #subscribe(): void {
    const generation = ++this.#generation;
    this.#relay = "connecting";
    this.#relayError = undefined;
    this.#sub = this.o.relay.subscribe(
      [INTENT_TOPIC],
      (e) => generation === this.#generation ? this.#track(this.#onIntent(e)) : undefined,
      {
        since: this.o.state.position() ?? "0",
        onStatus: (s, err, failures) => {
          if (generation !== this.#generation) return;
          const was = this.#relay;
          const wasError = this.#relayError?.reason;
          this.#relay = s;
          this.#relayError = err && s !== "connected"
            ? { reason: err, failures: failures ?? 1 }
            : undefined;
          // Every retry updates /health; the log says when the state or its reason changes.
          if (was !== s || wasError !== err) {
            this.o.log.info(`relay subscription ${s}`, err ? { err, failures } : {});
          }
        },
        // The relay no longer holds the position (history truncated past it, or a relay that
        // restarted with a memory store): intents evicted meanwhile can never be decided.
        onReset: (oldest) =>
          this.o.log.warn(
            "relay cannot resume from the recorded position; intents may have been lost",
            { position: this.o.state.position() ?? null, oldest: oldest ?? null },
          ),
      },
    );
  }

  /** Stops at the intent the store could not take, and resumes from the last recorded one later. */
  #hold(e: RelayEvent, err: unknown): void {
    this.o.log.warn("decision not recorded; holding the intents here and retrying", {
      id: e.id,
      err: String(err),
    });
    // The store's own reason, without the tx_id the wrapper names: /health is open to any viewer.
    const cause = err instanceof Error && err.cause !== undefined ? err.cause : err;
    this.#held = `decision not recorded: ${errorReason(cause)}`;
    this.#generation++;
    this.#sub?.close();
    clearTimeout(this.#resubscribe);
    this.#resubscribe = setTimeout(() => {
      if (this.#closed) return;
      try {
        this.#subscribe(); // reads the recorded position, which may fail as well
      } catch (again) {
        this.#hold(e, again);
      }
    }, delayOf(this.o.redeliverMs));
  }

  /** Keeps `work` until it settles, for {@linkcode close} to wait for; returns it as it is. */
  #track(work: Promise<void>): Promise<void> {
    this.#handling.add(work);
    const done = () => void this.#handling.delete(work);
    work.then(done, done);
    return work;
  }

  async #onIntent(e: RelayEvent): Promise<void> {
    // Loaded by start(); read before the decided check so nothing awaits between it and record.
    const read = this.#read ?? await loadIntentReader();
    const payload: unknown = e.payload ?? {};
    const txId = txIdOf(payload, e.event_id);
    let decided: boolean;
    try {
      decided = this.o.state.decided(txId);
      if (decided) this.o.state.setPosition(e.id);
    } catch (err) {
      return this.#hold(e, err);
    }
    if (decided) return void (this.#held = undefined);
    const decision = decideIntent(this.o, read, payload, txId);
    try {
      this.o.state.record(decision, e.id);
    } catch (err) {
      return this.#hold(e, err);
    }
    this.#held = undefined;
    this.o.onDecision?.(decision);
    await this.#deliver(decision);
  }

  async #deliver(d: Decision): Promise<boolean> {
    if (this.#inFlight.has(d.tx_id)) return true;
    this.#inFlight.add(d.tx_id);
    try {
      const refused = await deliverDecision(this.o, d, {
        published: this.o.state.isPublished(d.tx_id),
        onPublished: () => this.o.state.markPublished(d.tx_id),
      });
      this.o.state.markDelivered(d.tx_id);
      this.#undelivered = undefined;
      this.#refused = stillRefused(this.#refused, refused);
      return true;
    } catch (err) {
      // Without the tx_id: /health is open to any viewer.
      this.#undelivered = {
        reason: errorReason(err),
        since: this.#undelivered?.since ?? isoTimestamp(Date.now()),
      };
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
    // Cleared once the round has settled: a round with nothing to deliver runs to its end without
    // awaiting, and clearing inside it would come before this assignment and leave every later
    // round joined to this finished one.
    this.#redelivering ??= (async () => {
      for (const d of this.o.state.undelivered(REDELIVER_BATCH)) {
        // The list was read before the awaits below: a decision its intent's own delivery
        // finished meanwhile must not go out a second time.
        if (!this.o.state.pending(d.tx_id)) continue;
        if (!(await this.#deliver(d))) break;
      }
    })().finally(() => {
      this.#redelivering = undefined;
    });
    return this.#redelivering;
  }

  /** Stops the subscription and the retry timer. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    clearTimeout(this.#resubscribe);
    this.#sub?.close();
    // A delivery in flight is waited for: a publish the relay takes meanwhile is recorded as
    // taken, or the next start would publish it again. The relay client's request deadline
    // (relay_timeout) bounds the wait, and its close (next in the stop) ends its retries.
    await Promise.allSettled([this.#redelivering, ...this.#handling]);
  }
}

/** True for an answer retrying cannot change: a 4xx other than 408 and 429. */
function isRefusal(err: unknown): boolean {
  if (err instanceof RelayError) return err.permanent;
  return err instanceof AuditClientError && err.status >= 400 && err.status < 500 &&
    err.status !== 408 && err.status !== 429;
}

/**
 * The intent's tx_id when it is one the ledger can key (1 to {@linkcode MAX_INTENT_STRING}
 * well-formed characters), else the relay event id, so even a malformed intent gets its one
 * decision under a stable id.
 */
export function txIdOf(payload: unknown, eventId: string): string {
  const tx = typeof payload === "object" && payload !== null && !Array.isArray(payload)
    ? (payload as { tx_id?: unknown }).tx_id
    : undefined;
  return typeof tx === "string" && tx.length > 0 && tx.length <= MAX_INTENT_STRING &&
      tx.isWellFormed()
    ? tx
    : eventId;
}

/** What deciding an intent needs. */
export type DecideOptions = Pick<BridgeOptions, "engine" | "compat" | "missingRisk">;

/**
 * The decision for one intent payload, read by `read` (see `loadIntentReader`); never throws for
 * bad input (it is denied).
 */
export function decideIntent(
  o: DecideOptions,
  read: IntentReader,
  payload: unknown,
  txId: string,
): Decision {
  try {
    // A lone surrogate has no canonical form: the ledger could not take the decision.
    canonicalize(payload);
  } catch (err) {
    if (!(err instanceof CanonicalJsonError)) throw err;
    return denied(o, txId, [err.message]);
  }
  let parsed;
  try {
    parsed = read(payload, o.compat ?? "upstream");
  } catch (err) {
    if (err instanceof SessionRiskError) return denied(o, txId, [err.message]);
    if (!isValidationError(err)) throw err;
    return denied(
      o,
      txId,
      err.issues.map((i) => `${i.path.map(String).join(".") || "(root)"}: ${i.message}`),
    );
  }
  return o.engine.evaluate(parsed.intent, txId, {
    risk: parsed.risk,
    missingRisk: o.missingRisk,
  });
}

function denied(o: DecideOptions, txId: string, messages: string[]): Decision {
  return {
    tx_id: txId,
    decision: "deny",
    obligations: {},
    risk_after: null,
    explanation: {
      determining_policies: [],
      errors: messages.map((message) => ({ policy: "intent", message })),
    },
    policy_ref: o.engine.bundle.ref,
    ts: new Date().toISOString(),
  };
}

/** How far an earlier delivery of a decision got. */
export interface DeliveryProgress {
  /** The relay already took it: only the ledger append is left. */
  published?: boolean;
  /** Called once the relay took it (or refused it for good), before the ledger append. */
  onPublished?: () => void | Promise<void>;
}

/**
 * `delivery` health after a refusal for good (ok when none): not retried, so the reason stays
 * until a later decision goes through.
 */
export function refusedHealth(r: { reason: string; since: string } | undefined): ComponentHealth {
  return r === undefined ? { ok: true } : {
    ok: false,
    reason: `the latest decision was refused, logged and not retried: ${r.reason}`,
    since: r.since,
  };
}

/** The refusal state after a delivery that was refused for `reason` (undefined: it went through). */
export function stillRefused(
  was: { reason: string; since: string } | undefined,
  reason: string | undefined,
): { reason: string; since: string } | undefined {
  return reason === undefined
    ? undefined
    : { reason, since: was?.since ?? isoTimestamp(Date.now()) };
}

/** What delivering a decision needs. */
export type DeliverOptions = Pick<BridgeOptions, "relay" | "audit" | "log" | "compat">;

/**
 * Publishes `access.decision` (unless `progress` says the relay already took it; its
 * `Idempotency-Key` {@linkcode decisionRelayKey}, so a redelivery within the relay's window is not
 * stored twice) and appends it
 * to the ledger (idempotency key {@linkcode decisionKey}, so a redo adds no second entry). A
 * refusal for good (a 4xx) is logged and not retried, so it never holds up the decisions after
 * it.
 * @returns why the relay or the ledger refused it for good (the first refusal), or undefined
 * @throws {Error} when the relay or the ledger could not be reached (retry later)
 */
export async function deliverDecision(
  o: DeliverOptions,
  d: Decision,
  progress: DeliveryProgress = {},
): Promise<string | undefined> {
  const wire = decisionWire(d, o.compat ?? "upstream");
  let refused: string | undefined;
  if (!progress.published) {
    refused = await unlessRefused(
      o,
      d,
      () => o.relay.publishNow(DECISION_TOPIC, wire, { idempotencyKey: decisionRelayKey(d.tx_id) }),
    );
    await progress.onPublished?.();
  }
  const ledger = await unlessRefused(o, d, () =>
    o.audit?.append(
      { tx_id: d.tx_id, event: DECISION_TOPIC, actor: "policy", payload: wire },
      { idempotencyKey: decisionKey(d.tx_id) },
    ));
  return refused ?? ledger;
}

/** Runs `step`; a refusal for good is logged and its reason returned, anything else thrown. */
async function unlessRefused(
  o: DeliverOptions,
  d: Decision,
  step: () => Promise<unknown> | undefined,
): Promise<string | undefined> {
  try {
    await step();
    return undefined;
  } catch (err) {
    if (!isRefusal(err)) throw err;
    o.log.error("decision refused; not retried", { tx_id: d.tx_id, err: String(err) });
    return errorReason(err);
  }
}
