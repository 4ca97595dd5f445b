/**
 * The Stavily orchestrator wire format (docs/protocols.md) as types: what the agent accepts from
 * the orchestrator and the bodies it sends. The zod schemas that check what arrives are in
 * wire_schema.ts, loaded with the first message that needs them ({@linkcode wireSchemas}): zod
 * is about 8 MB of an idle agent.
 * @module
 */
import { lateImport } from "../config/mod.ts";

/** Instruction ids appear in URL paths: no slashes, no leading dot, bounded. */
export const INSTRUCTION_ID = /^[A-Za-z0-9_:-][A-Za-z0-9._:-]{0,127}$/;

/**
 * Deepest nesting of an instruction's `plugin_configuration` and `input_data` (the object itself
 * is level 1). Deeper values are refused as invalid: the plugin host hands them to the plugin's
 * worker by structured clone, whose recursion overflows the stack a few thousand levels down, so
 * such an input could only crash the host (and its retries) instead of being refused.
 */
export const MAX_INSTRUCTION_DEPTH = 64;

/**
 * True when `value` nests objects and arrays more than `max` levels deep (the value itself, when
 * an object or array, is level 1). Walks without recursion, so no depth overflows it.
 */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    if (depth > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === "object" && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}

/** A parsed instruction (see wire_schema.ts for its checks and defaults). */
export interface Instruction {
  id: string;
  plugin_id: string;
  instruction_type: string;
  plugin_configuration: Record<string, unknown>;
  input_data: Record<string, unknown>;
  timeout_seconds: number;
  max_retries: number;
  correlation_id: string | undefined;
}

/** The zod schemas' module. */
type WireSchemas = typeof import("./wire_schema.ts");

let schemas: Promise<WireSchemas> | undefined;

/**
 * The wire's zod schemas, imported on the first call (the same module after).
 * @example
 * ```ts
 * const { instructionSchema } = await wireSchemas();
 * ```
 */
export function wireSchemas(): Promise<WireSchemas> {
  return schemas ??= lateImport<WireSchemas>("./wire_schema.ts", import.meta.url);
}

/** Heartbeat body. */
export interface HeartbeatBody {
  timestamp: string;
  status: "online" | "offline";
}

/** Status update body (`PUT .../instructions/{id}`). */
export interface StatusBody {
  status: "executing";
  execution_log: string[];
}

/** Final result body (`POST .../instructions/{id}/result`). */
export interface ResultBody {
  status: "completed" | "failed";
  result?: Record<string, unknown>;
  error_message?: string;
  error_details?: Record<string, unknown>;
  execution_log: string[];
}

/** RFC 3339 UTC timestamp with seconds precision, as upstream sends in heartbeats. */
export function rfc3339(date = new Date()): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}
