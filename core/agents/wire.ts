/**
 * The Stavily orchestrator wire format (docs/protocols.md) as zod schemas and types: what the agent
 * accepts from the orchestrator (lenient about extra fields, strict about the ones it uses) and the
 * bodies it sends.
 * @module
 */
import { z } from "zod";

/** Instruction ids appear in URL paths: no slashes, no leading dot, bounded. */
export const INSTRUCTION_ID = /^[A-Za-z0-9_:-][A-Za-z0-9._:-]{0,127}$/;

/** One instruction; unknown extra fields (agent_id, priority, ...) are ignored. */
export const instructionSchema = z.object({
  id: z.string().regex(INSTRUCTION_ID),
  plugin_id: z.string().max(256).default(""),
  instruction_type: z.string().max(64),
  plugin_configuration: z.record(z.string(), z.unknown()).nullish().transform((v) => v ?? {}),
  input_data: z.record(z.string(), z.unknown()).nullish().transform((v) => v ?? {}),
  timeout_seconds: z.number().min(0).nullish().transform((v) => v ?? 0),
  max_retries: z.number().int().min(0).nullish().transform((v) => v ?? 0),
  correlation_id: z.string().max(256).nullish().transform((v) => v ?? undefined),
});

/** A parsed instruction. */
export type Instruction = z.infer<typeof instructionSchema>;

/** `GET /agents/v1/{agent_id}/instructions` response. */
export const pollResponseSchema = z.object({
  instruction: z.unknown().nullish(),
  status: z.string().max(64).optional(),
  next_poll_interval: z.number().min(0).nullish(),
});

/** `POST .../result` response. */
export const resultResponseSchema = z.object({
  acknowledged: z.boolean().optional(),
  next_instruction: z.unknown().nullish(),
});

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
