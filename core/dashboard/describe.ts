/**
 * Events as sentences: a one-line summary of each relay event ("demo-untrusted -> warn 449:
 * low trust score (0/10), no reversibility"), its decision and the reason for it. Computed once,
 * on the dashboard server, from the already-masked payload, so the page, the stream and the JSON
 * answers all say the same thing and no secret can reach a sentence.
 * @module
 */

/** Decisions the dashboard counts and colours. */
export type DecisionKind = "allow" | "deny" | "block" | "warn";
/** Every decision kind, in display order. */
export const DECISION_KINDS: readonly DecisionKind[] = ["allow", "warn", "deny", "block"];
/** Longest summary kept (longer ones end in an ellipsis). */
const MAX_SUMMARY_CHARS = 300;
/** Longest agent or service name kept (longer ones end in an ellipsis). */
const MAX_NAME_CHARS = 128;

/** What an access intent said, remembered to explain its decision. */
export interface IntentBrief {
  subject?: string;
  scope?: string;
  resource?: string;
  enterprise?: string;
}

/** What {@linkcode describeEvent} derives from one event. */
export interface Described {
  summary: string;
  decision?: DecisionKind;
  reason?: string;
  agent?: string;
}

type Payload = Record<string, unknown>;

const str = (v: unknown): string | undefined =>
  typeof v === "string" && v !== "" ? v : typeof v === "number" ? String(v) : undefined;

const obj = (v: unknown): Payload =>
  v !== null && typeof v === "object" && !Array.isArray(v) ? v as Payload : {};

/** Cuts `text` to {@linkcode MAX_SUMMARY_CHARS}, on one line. */
export function oneLine(text: string, max = MAX_SUMMARY_CHARS): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? flat.slice(0, max - 1) + "…" : flat;
}

/**
 * Control and format characters: a zero-width space (U+200B), a word joiner, a BOM, a soft hyphen,
 * an escape. Drawn as nothing, they let `agent-1\u200b` pass for `agent-1` on the overview.
 */
const INVISIBLE = /[\p{Cc}\p{Cf}]/gu;

/**
 * An agent or service name as the overview shows it: on one line, cut to
 * {@linkcode MAX_NAME_CHARS}, each control or format character shown as U+FFFD, so two names
 * that differ only by an invisible character do not look alike.
 */
export function nameText(text: string): string {
  return oneLine(text.replace(/[\t\n\v\f\r]/g, " ").replace(INVISIBLE, "\uFFFD"), MAX_NAME_CHARS);
}

/** True when `v` names a decision kind. */
export function isDecision(v: unknown): v is DecisionKind {
  return v === "allow" || v === "deny" || v === "block" || v === "warn";
}

/** The brief of an access intent payload. */
export function intentBrief(p: Payload): IntentBrief {
  const subject = obj(p.subject);
  const resource = obj(p.resource);
  return {
    subject: str(subject.id),
    scope: str(resource.scope),
    resource: str(resource.id),
    enterprise: str(resource.enterprise),
  };
}

/** "agent-7 read dataset-42 in B", with neutral words for what the intent left out. */
function wanted(b: IntentBrief, verb: (scope: string) => string): string {
  const where = b.enterprise ? ` in ${b.enterprise}` : "";
  return `${b.subject ?? "an unnamed subject"} ${verb(b.scope ?? "access")} ${
    b.resource ?? "a resource"
  }${where}`;
}

/**
 * The reason of a policy decision: its own `reason` when the policy service sent one, else one
 * derived from the Cedar explanation (older decisions, malformed intents).
 */
export function policyReason(p: Payload): string {
  const own = str(p.reason);
  if (own) return own;
  const ex = obj(p.explanation);
  const policies = Array.isArray(ex.determining_policies)
    ? ex.determining_policies.filter((x): x is string => typeof x === "string")
    : [];
  const errors = Array.isArray(ex.errors) ? ex.errors.map(obj) : [];
  if (policies.length > 0) {
    return `${p.decision === "allow" ? "permitted" : "forbidden"} by ${policies.join(", ")}`;
  }
  const first = errors.map((e) => str(e.message)).find((m) => m !== undefined);
  if (first) return `${errors[0].policy === "intent" ? "invalid intent" : "error"}: ${first}`;
  return p.decision === "allow" ? "permitted" : "no policy permitted it";
}

function warningReason(text: string): string {
  // Each item is the Go sidecar's short line, optionally followed by ": <the Python wording>"
  // and a " for agent '<id>'" tail: only the short line is kept.
  const items = text.split("•").slice(1)
    .map((s) => s.replace(/:.*$/s, "").replace(/ for agent '.*$/s, "").trim())
    .filter((s) => s !== "");
  if (items.length === 0) return oneLine(text.replace(/^⚠️?\s*WARNING:?/u, ""));
  return items.map((s) => s[0].toLowerCase() + s.slice(1)).join(", ");
}

function describeTrace(p: Payload): Described {
  // The agent as the overview names it, in its row and in the summaries of its events alike.
  const agent = nameText(str(p.agent_id) ?? "sidecar");
  const d = obj(p.details);
  const status = str(p.status) ?? str(d.status) ?? "";
  const decision = isDecision(p.decision) ? p.decision : undefined;
  switch (p.type) {
    case "blocked": {
      const reason = str(d.error) ?? str(d.reason) ?? "blocked";
      return {
        agent,
        decision: "block",
        reason,
        summary: `${agent} -> block ${status}: ${reason}`,
      };
    }
    case "warning": {
      const reason = warningReason(str(d.warning) ?? "low trust score");
      return { agent, decision: "warn", reason, summary: `${agent} -> warn ${status}: ${reason}` };
    }
    case "response":
      return { agent, decision, summary: `${agent} -> allow: the agent answered ${status}`.trim() };
    case "request": {
      const sens = obj(d.sensitive);
      const found = [sens.credit_card === true ? "card" : "", sens.ssn === true ? "SSN" : ""]
        .filter((s) => s !== "");
      const what = `${str(d.method) ?? "POST"} ${str(d.path) ?? "/"}`;
      const tail = found.length ? `, ${found.join(" and ")} detected` : "";
      return {
        agent,
        summary: `${agent} <- request ${what} (${str(d.payload_bytes) ?? "?"} bytes${tail})`,
      };
    }
    case "quarantine":
      return { agent, decision, summary: `${agent}: quarantine (${str(d.reason) ?? "?"})` };
    case "error":
      return { agent, summary: `${agent}: error ${status} ${str(d.error) ?? ""}`.trim() };
    default:
      return { agent, decision, summary: `${agent}: ${str(p.type) ?? "trace event"}` };
  }
}

function scalars(p: Payload, n = 3): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(p)) {
    if (parts.length >= n) break;
    if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") {
      parts.push(`${k}=${String(v).slice(0, 60)}`);
    }
  }
  return parts.join(", ");
}

function describeOther(topic: string, p: Payload): Described {
  const given = str(p.agent_id);
  const agent = given === undefined ? undefined : nameText(given);
  if (topic.startsWith("sensor.")) {
    const what = str(p.message) ?? str(p.summary) ?? str(p.severity) ?? scalars(p);
    const by = `${agent ?? "a sensor"}${p.plugin_id ? ` (${str(p.plugin_id)})` : ""}`;
    return { agent, summary: `${by} reported ${topic.slice(7)}${what ? `: ${what}` : ""}` };
  }
  if (topic === "audit.appended") {
    return {
      summary: `ledger entry #${str(p.index) ?? "?"}: ${str(p.event) ?? "event"} for tx ${
        str(p.tx_id) ?? "?"
      }`,
    };
  }
  if (topic.startsWith("action.")) {
    const kind = str(p.instruction_type) ?? str(p.type) ?? "instruction";
    const state = str(p.status) ??
      (p.success === true ? "succeeded" : p.success === false ? "failed" : "");
    const err = str(p.error) ?? str(p.reason);
    return {
      agent,
      summary: `${agent ?? "an action agent"} ${kind}${state ? `: ${state}` : ""}${
        err ? ` (${err})` : ""
      }`,
    };
  }
  if (topic.startsWith("status.")) {
    const what = str(p.message) ?? scalars(p);
    return { agent, summary: `${str(p.host) ?? agent ?? "host"} ${topic.slice(7)}: ${what}` };
  }
  const rest = scalars(p);
  return { agent, summary: `${topic} event${rest ? `: ${rest}` : ""}` };
}

/**
 * Describes one event. `intentOf` finds the brief of a transaction's intent, so a decision can
 * say who wanted what.
 */
export function describeEvent(
  topic: string,
  p: Payload,
  intentOf: (txId: string) => IntentBrief | undefined,
): Described {
  let out: Described;
  if (topic === "access.intent") {
    const b = intentBrief(p);
    const risk = str(obj(p.context).session_risk);
    out = {
      agent: b.subject,
      summary: `${wanted(b, (s) => `asks to ${s}`)}${risk ? `, session risk ${risk}` : ""}`,
    };
  } else if (topic === "access.decision") {
    const decision = isDecision(p.decision) ? p.decision : undefined;
    const reason = policyReason(p);
    const tx = str(p.tx_id);
    const b = tx ? intentOf(tx) : undefined;
    const who = b && (b.subject || b.resource) ? wanted(b, (s) => s) : `tx ${tx ?? "?"}`;
    out = {
      agent: b?.subject,
      decision,
      reason,
      summary: `${who} -> ${decision ?? "?"}: ${reason}`,
    };
  } else if (topic === "iatp.trace") {
    out = describeTrace(p);
  } else {
    // Decisions come from the policy service and the sidecars only: a `decision` member on any
    // other topic is payload, or whoever may publish there could add allows, denies and blocks
    // to the overview's counts and push the real ones off its latest blocks and denies.
    out = describeOther(topic, p);
  }
  out.summary = oneLine(out.summary);
  if (out.reason) out.reason = oneLine(out.reason);
  // A name is a table row, a link and a filter on the overview: a 1 MB agent id would be all of
  // them, on every refresh.
  if (out.agent) out.agent = nameText(out.agent);
  return out;
}
