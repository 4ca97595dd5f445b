/**
 * The relay's topic grammar, shared by the relay and the scope vocabulary of credentials: topic
 * names, patterns (`sensor.*`, `*`), matching, pattern coverage and a compiled filter.
 *
 * @example
 * ```ts
 * import { isTopicName, TopicFilter } from "./mod.ts";
 * isTopicName("access.intent"); // true
 * new TopicFilter(["sensor.*"]).matches("sensor.cpu.high"); // true
 * ```
 * @module
 */
export { isTopicName, isTopicPattern, patternCovers, TopicFilter } from "./topic.ts";
