/**
 * Trigger event checking: what a trigger's detect() returned must be a bounded list of
 * well-formed events. Missing id, source, timestamp, data and tags are filled in; a missing or
 * unknown type or severity is the plugin's bug and is reported as invalid output.
 * @module
 */
import type { Severity, TriggerEvent } from "./contract.ts";

const SEVERITIES = new Set<Severity>(["low", "medium", "high", "critical"]);
const MAX_FIELD_CHARS = 256;

/** Returns the normalized events, or a message naming the first bad event field. */
export function checkEvents(value: unknown, source: string, max: number): TriggerEvent[] | string {
  if (!Array.isArray(value)) return "detect() must return an array of events";
  if (value.length > max) return `detect() returned ${value.length} events, more than ${max}`;
  const out: TriggerEvent[] = [];
  for (const [i, raw] of value.entries()) {
    if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
      return `event[${i}]: expected an object`;
    }
    const e = raw as Record<string, unknown>;
    if (typeof e.type !== "string" || e.type.length === 0 || e.type.length > MAX_FIELD_CHARS) {
      return `event[${i}].type: expected a non-empty string`;
    }
    if (!SEVERITIES.has(e.severity as Severity)) {
      return `event[${i}].severity: expected low|medium|high|critical, found ${
        JSON.stringify(e.severity)
      }`;
    }
    const data = e.data ?? {};
    if (data === null || typeof data !== "object" || Array.isArray(data)) {
      return `event[${i}].data: expected an object`;
    }
    const tags = e.tags ?? [];
    if (!Array.isArray(tags) || tags.some((t) => typeof t !== "string")) {
      return `event[${i}].tags: expected a list of strings`;
    }
    out.push({
      id: typeof e.id === "string" && e.id ? e.id.slice(0, MAX_FIELD_CHARS) : crypto.randomUUID(),
      type: e.type,
      source: typeof e.source === "string" && e.source
        ? e.source.slice(0, MAX_FIELD_CHARS)
        : source,
      timestamp: typeof e.timestamp === "string" && !Number.isNaN(Date.parse(e.timestamp))
        ? e.timestamp
        : new Date().toISOString(),
      severity: e.severity as Severity,
      data: data as Record<string, unknown>,
      tags: tags as string[],
      ...(e.metadata !== null && typeof e.metadata === "object" && !Array.isArray(e.metadata)
        ? { metadata: e.metadata as Record<string, unknown> }
        : {}),
    });
  }
  return out;
}
