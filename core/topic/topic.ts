/**
 * Topic names and topic patterns: an exact name, a trailing `.*` wildcard (`sensor.*`), or `*`
 * for every topic. The same patterns scope bearer tokens (`subscribe:sensor.*`).
 * @module
 */

/** Valid topic names. */
const TOPIC_NAME = /^[A-Za-z0-9._:-]{1,128}$/;

/** True when `name` is a valid topic name. */
export function isTopicName(name: unknown): name is string {
  return typeof name === "string" && TOPIC_NAME.test(name);
}

/** True when `pattern` is a valid topic pattern (a name, `prefix.*` or `*`). */
export function isTopicPattern(pattern: unknown): pattern is string {
  if (typeof pattern !== "string") return false;
  if (pattern === "*") return true;
  if (pattern.endsWith(".*")) return isTopicName(pattern.slice(0, -2));
  return isTopicName(pattern);
}

/** True when `topic` matches `pattern`. `a.*` matches `a.b` and `a.b.c`, not `a` itself. */
export function topicMatches(pattern: string, topic: string): boolean {
  if (pattern === "*") return true;
  if (pattern.endsWith(".*")) return topic.startsWith(pattern.slice(0, -1));
  return pattern === topic;
}

/** True when every topic `inner` can match is also matched by `outer` (for token scopes). */
export function patternCovers(outer: string, inner: string): boolean {
  if (outer === "*") return true;
  if (inner === "*") return false;
  if (outer.endsWith(".*")) return inner.startsWith(outer.slice(0, -1));
  return outer === inner;
}

/** Above this many exact names a filter looks them up in a set rather than a list. */
const EXACT_LIST_MAX = 8;
const NONE: readonly string[] = Object.freeze([]);

/**
 * A compiled set of patterns: exact names in a short list (a set when there are many),
 * wildcard prefixes in a short list, so a publish to 10,000 subscribers costs a comparison or a
 * lookup per subscriber, not a regex, and a subscriber to one topic holds no set of its own.
 */
export class TopicFilter {
  readonly patterns: readonly string[];
  readonly #exact: readonly string[];
  readonly #exactSet: ReadonlySet<string> | undefined;
  readonly #prefixes: readonly string[];
  readonly #all: boolean;

  constructor(patterns: readonly string[]) {
    this.patterns = patterns;
    let exact: string[] | undefined;
    let prefixes: string[] | undefined;
    let all = false;
    for (const p of patterns) {
      if (p === "*") all = true;
      else if (p.endsWith(".*")) (prefixes ??= []).push(p.slice(0, -1));
      else if (!exact?.includes(p)) (exact ??= []).push(p);
    }
    this.#all = all;
    // Only distinct exact names (the usual subscription): the list is the patterns themselves.
    this.#exact = !exact ? NONE : exact.length === patterns.length ? patterns : exact;
    this.#exactSet = this.#exact.length > EXACT_LIST_MAX ? new Set(this.#exact) : undefined;
    this.#prefixes = prefixes ?? NONE;
  }

  /** True when `topic` matches any pattern. */
  matches(topic: string): boolean {
    if (this.#all) return true;
    if (this.#exactSet) {
      if (this.#exactSet.has(topic)) return true;
    } else if (this.#exact.includes(topic)) return true;
    for (const p of this.#prefixes) if (topic.startsWith(p)) return true;
    return false;
  }

  /** Exact names, each once (for indexing subscribers by topic). */
  get exact(): readonly string[] {
    return this.#exact;
  }

  /** True when any pattern is a wildcard. */
  get hasWildcard(): boolean {
    return this.#all || this.#prefixes.length > 0;
  }
}
