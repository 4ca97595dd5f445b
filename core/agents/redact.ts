/**
 * Error text as it leaves an agent: a plugin's or an instruction's error goes to the
 * orchestrator, the relay (`action.results`), the state database, `/health` and the execution
 * log with secrets (core/log's scrubber) and payment cards and SSNs (core/pii) replaced by their
 * placeholders, the rest of the message kept. The agent does this itself, however it was started
 * (its own command, `iatp up`, a test): importing core/pii here installs its card and SSN hook in
 * the log scrubber, so one `scrubString` pass does both.
 * @module
 */
import { scrubString } from "../log/mod.ts";
import "../pii/mod.ts";
import type { ResultBody } from "./wire.ts";

/**
 * `text` with secrets, cards and SSNs replaced.
 *
 * @example
 * ```ts
 * redactErrorText("card 4111 1111 1111 1111 declined");
 * // "card [CREDIT_CARD_REDACTED] declined"
 * ```
 */
export function redactErrorText(text: string): string {
  return scrubString(text);
}

/**
 * A result body whose error text is redacted: `error_message` and every string of
 * `error_details` but the plugin's `output`, which travels as the output of a completed run does.
 * The execution log is redacted line by line as it is written (exec_log.ts).
 */
export function redactFailure(body: ResultBody): ResultBody {
  if (body.error_message === undefined && body.error_details === undefined) return body;
  const out: ResultBody = { ...body };
  if (body.error_message !== undefined) out.error_message = redactErrorText(body.error_message);
  if (body.error_details !== undefined) {
    out.error_details = Object.fromEntries(
      Object.entries(body.error_details).map((
        [k, v],
      ) => [k, k !== "output" && typeof v === "string" ? redactErrorText(v) : v]),
    );
  }
  return out;
}
