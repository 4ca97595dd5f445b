/**
 * The zod schemas of the Stavily orchestrator wire format (docs/protocols.md): lenient about
 * extra fields, strict about the ones the agent uses. Imported with the first message
 * (wire.ts's `wireSchemas`), never at start.
 * @module
 */
import { z } from "zod";
import {
  type Instruction,
  INSTRUCTION_ID,
  MAX_INSTRUCTION_DEPTH,
  nestedDeeperThan,
} from "./wire.ts";

/** An object of the instruction's, at most {@linkcode MAX_INSTRUCTION_DEPTH} levels deep. */
const boundedObject = z.record(z.string(), z.unknown()).refine(
  (v) => !nestedDeeperThan(v, MAX_INSTRUCTION_DEPTH),
  { message: `nested deeper than ${MAX_INSTRUCTION_DEPTH} levels` },
);

/** One instruction; unknown extra fields (agent_id, priority, ...) are ignored. */
export const instructionSchema: z.ZodType<Instruction, unknown> = z.object({
  id: z.string().regex(INSTRUCTION_ID),
  plugin_id: z.string().max(256).default(""),
  instruction_type: z.string().max(64),
  plugin_configuration: boundedObject.nullish().transform((v) => v ?? {}),
  input_data: boundedObject.nullish().transform((v) => v ?? {}),
  timeout_seconds: z.number().min(0).nullish().transform((v) => v ?? 0),
  max_retries: z.number().int().min(0).nullish().transform((v) => v ?? 0),
  correlation_id: z.string().max(256).nullish().transform((v) => v ?? undefined),
});

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
