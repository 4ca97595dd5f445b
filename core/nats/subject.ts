/**
 * Relay topic names as NATS subject tokens, reversibly: a topic such as `a..b` or `x.` has empty
 * tokens, which NATS refuses, so each empty token is written `~` (a character no topic name can
 * hold). Wildcard patterns map to NATS wildcards the same way (`sensor.*` -> `sensor.>`).
 * @module
 */

/** The token written for an empty topic token. */
const EMPTY = "~";

/**
 * The subject of `topic` under `prefix`.
 *
 * @example
 * ```ts
 * topicSubject("relay", "access.intent"); // "relay.access.intent"
 * topicSubject("relay", "a..b"); // "relay.a.~.b"
 * ```
 */
export function topicSubject(prefix: string, topic: string): string {
  return `${prefix}.${topic.split(".").map((t) => t === "" ? EMPTY : t).join(".")}`;
}

/**
 * The topic of a subject made by {@linkcode topicSubject}; undefined when `subject` is not under
 * `prefix`.
 *
 * @example
 * ```ts
 * subjectTopic("relay", "relay.a.~.b"); // "a..b"
 * ```
 */
export function subjectTopic(prefix: string, subject: string): string | undefined {
  if (!subject.startsWith(`${prefix}.`)) return undefined;
  return subject.slice(prefix.length + 1).split(".").map((t) => t === EMPTY ? "" : t).join(".");
}

/**
 * The NATS filter subject of a relay topic pattern: `*` -> `prefix.>`, `a.*` -> `prefix.a.>`
 * (the relay's `a.*` matches `a.b` and `a.b.c`, as NATS `>` does), a name -> its subject.
 *
 * @example
 * ```ts
 * patternSubject("relay", "action.tasks.*"); // "relay.action.tasks.>"
 * ```
 */
export function patternSubject(prefix: string, pattern: string): string {
  if (pattern === "*") return `${prefix}.>`;
  if (pattern.endsWith(".*")) return `${topicSubject(prefix, pattern.slice(0, -2))}.>`;
  return topicSubject(prefix, pattern);
}
