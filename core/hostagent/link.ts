/**
 * The dashboard link: long-polls `{DASHBOARD_URL}/api/v1/agent/commands/wait/{hash}` for commands,
 * runs each through the {@linkcode CommandRouter}, and reports the result to
 * `/api/v1/agent/commands/report` (the TryDirect status wire, docs/protocols.md), every request
 * signed. Failed polls back off with jitter, and so does an empty poll answered at once (a
 * dashboard that does not hold it open); reports are retried a bounded number of times.
 * @module
 */
import { backoffDelay, type BackoffPolicy, sleep, timeoutSignal } from "../async/mod.ts";
import type { SignerIdentity } from "../auth/mod.ts";
import { loadAuth } from "./auth.ts";
import {
  type AgentCommand,
  type CommandResult,
  makeResult,
  MAX_COMMAND_ID_LENGTH,
} from "../docker/wire/mod.ts";
import { HttpError } from "../errors/mod.ts";
import { noteWork, readBody } from "../http/mod.ts";
import type { Logger } from "../log/mod.ts";
import type { CommandRouter } from "./router.ts";
import { lateImport } from "../config/mod.ts";

/**
 * The command parser (zod), loaded with the first command: apart from the executor and the
 * Docker Engine client, which this agent loads only in legacy mode.
 */
type Parser = typeof import("../docker/parse/mod.ts");

/** A command id as the command parser accepts it. */
const COMMAND_ID = new RegExp(`^[A-Za-z0-9._:-]{1,${MAX_COMMAND_ID_LENGTH}}$`);
/** What a command reports when it arrived while the agent was stopping. */
export const NOT_RUN_STOPPING = "not run: the status agent was stopping; send it again";

/** What a command reports when the parser could not be loaded (the reason is in the agent's log). */
export const PARSER_UNAVAILABLE =
  "the command parser could not be loaded; the agent's log has the reason";
/** Largest poll response read. */
const MAX_POLL_RESPONSE_BYTES = 1024 * 1024;
/** An empty poll answered sooner than this was not held open: the next one waits the backoff. */
const MIN_EMPTY_POLL_MS = 1000;
/** Longest backoff, as a multiple of the base. */
const MAX_BACKOFF_MULTIPLIER = 12;

/** A command's own fields: found at the top level of a poll answer, the command is misplaced. */
const COMMAND_FIELDS = ["command_id", "type", "parameters", "deployment_hash"];

/**
 * Warns when a poll answer with no `item` carries a command's id at its top level: the wire
 * puts the command under `item` (as upstream's dashboard and agent do), so such a command is not
 * run, and the warning says why rather than dropping it silently.
 */
function misplacedCommand(
  body: Record<string, unknown>,
  log: Logger,
  warned: { id?: unknown },
): void {
  if (!Object.hasOwn(body, "command_id")) return;
  const fields = COMMAND_FIELDS.filter((f) => Object.hasOwn(body, f));
  const id = body.command_id;
  // A dashboard that keeps answering so repeats the same command each poll: warned once per id.
  if (warned.id === id) return;
  warned.id = id;
  log.warn(
    "dashboard poll answer has command fields at its top level, not under `item`: not run",
    {
      top_level: fields,
      ...(typeof id === "string" && COMMAND_ID.test(id) ? { command_id: id } : {}),
    },
  );
}

/** Options for {@linkcode DashboardLink}. */
export interface LinkOptions {
  dashboardUrl: string;
  deploymentHash: string;
  identity: SignerIdentity;
  router: CommandRouter;
  pollTimeoutSecs: number;
  backoffMs: number;
  reportAttempts: number;
  log: Logger;
  /** Called with each command and result (relay events, tests). */
  onResult?: (cmd: AgentCommand, r: CommandResult) => void;
}

/** The long-poll loop. */
export class DashboardLink {
  #closed = new AbortController();
  #loop: Promise<void> | undefined;
  #failures = 0;
  /** The last command id warned about at a poll answer's top level (see misplacedCommand). */
  #misplaced: { id?: unknown } = {};
  /** Commands handled so far. */
  handled = 0;

  constructor(private readonly opts: LinkOptions) {}

  /** Starts polling. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Stops polling (aborts an open poll), waits for the loop to end and logs that the link closed. */
  async close(): Promise<void> {
    const open = this.#loop !== undefined && !this.#closed.signal.aborted;
    this.#closed.abort();
    await this.#loop;
    if (open) this.opts.log.info("dashboard link closed", { commands_handled: this.handled });
  }

  #base(): string {
    return this.opts.dashboardUrl.replace(/\/+$/, "");
  }

  async #run(): Promise<void> {
    while (!this.#closed.signal.aborted) {
      let wait = 0;
      try {
        const began = Date.now();
        const { item, failed, nextPollSecs } = await this.#poll();
        this.#failures = 0;
        if (item && this.#closed.signal.aborted) await this.#notRun(item);
        else if (item) await this.#handle(item);
        if (failed) await this.#report(failed);
        wait = nextPollSecs * 1000;
        if (!item && wait === 0 && Date.now() - began < MIN_EMPTY_POLL_MS) {
          // A dashboard (or a proxy) that does not hold the long poll open would be polled in a
          // tight loop: wait polling_backoff instead.
          wait = this.opts.backoffMs;
          this.opts.log.debug("dashboard answered the poll at once; waiting before the next", {
            wait_ms: wait,
          });
        }
      } catch (err) {
        if (this.#closed.signal.aborted) break;
        this.#failures++;
        wait = backoffDelay(this.#failures - 1, this.#backoff());
        this.opts.log.warn("dashboard poll failed", { err, retry_in_ms: Math.round(wait) });
      }
      await sleep(wait, this.#closed.signal);
    }
  }

  /** Retry schedule: `backoff_ms` doubling per failure up to {@linkcode MAX_BACKOFF_MULTIPLIER}x. */
  #backoff(jitter: BackoffPolicy["jitter"] = "equal"): BackoffPolicy {
    const baseMs = this.opts.backoffMs;
    return { baseMs, maxMs: baseMs * MAX_BACKOFF_MULTIPLIER, jitter };
  }

  async #poll(): Promise<{ item?: AgentCommand; failed?: CommandResult; nextPollSecs: number }> {
    const o = this.opts;
    const url = `${this.#base()}/api/v1/agent/commands/wait/${
      encodeURIComponent(o.deploymentHash)
    }?timeout=${o.pollTimeoutSecs}`;
    // A stop ends a poll the dashboard has not answered yet; once its answer began, the command
    // in it is the agent's (the dashboard handed it over): the answer is read to the end, within
    // the poll's own deadline, and the command reported.
    const unanswered = new AbortController();
    const onClose = () => unanswered.abort(this.#closed.signal.reason);
    this.#closed.signal.addEventListener("abort", onClose, { once: true });
    if (this.#closed.signal.aborted) onClose();
    const signal = AbortSignal.any([
      unanswered.signal,
      timeoutSignal((o.pollTimeoutSecs + 15) * 1000),
    ]);
    const { signedFetch } = await loadAuth();
    let res: Response;
    try {
      res = await signedFetch(url, o.identity, { signal });
    } finally {
      this.#closed.signal.removeEventListener("abort", onClose);
    }
    if (res.status === 204) return { nextPollSecs: 0 };
    if (!res.ok) {
      await res.body?.cancel();
      throw new Error(`dashboard answered ${res.status}`);
    }
    const bytes = await readBody(res, { limit: MAX_POLL_RESPONSE_BYTES });
    const parsed: unknown = JSON.parse(new TextDecoder().decode(bytes));
    // Not an object: a failed poll (logged, backed off), not an empty one.
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new Error("the dashboard's poll answer is not a JSON object");
    }
    const body = parsed as { item?: unknown; meta?: { next_poll_secs?: unknown } };
    const next = Number(body.meta?.next_poll_secs ?? 0);
    const nextPollSecs = Number.isFinite(next) && next > 0 ? Math.min(next, 300) : 0;
    if (body.item === null || body.item === undefined) {
      misplacedCommand(body, o.log, this.#misplaced);
      return { nextPollSecs };
    }
    // The command parser (zod) loads with the first command, not with the agent.
    let parseCommand: Parser["parseCommand"];
    try {
      ({ parseCommand } = await lateImport<Parser>("../docker/parse/mod.ts", import.meta.url));
    } catch (err) {
      // The dashboard handed the command over: reported failed when it names its id, not lost.
      const id = commandIdOf(body.item);
      if (id === undefined) throw err;
      // The reason (a module path on this host, the runtime's wording) stays in the agent's log.
      o.log.error("dashboard command not run", { command_id: id, err });
      const message = PARSER_UNAVAILABLE;
      return {
        failed: makeResult({ command_id: id }, "status_panel", "failed", null, message),
        nextPollSecs,
      };
    }
    try {
      return { item: parseCommand(body.item), nextPollSecs };
    } catch (err) {
      o.log.warn("dashboard sent an invalid command", { err });
      // The dashboard handed it over: one that names a valid id is reported failed, naming the
      // field (not its value), so the dashboard does not wait for it; without one it cannot be.
      const id = commandIdOf(body.item);
      if (id === undefined || !(err instanceof HttpError)) return { nextPollSecs };
      return {
        failed: makeResult({ command_id: id }, "status_panel", "failed", null, err.message),
        nextPollSecs,
      };
    }
  }

  async #handle(cmd: AgentCommand): Promise<void> {
    const o = this.opts;
    o.log.info("dashboard command", { command_id: cmd.command_id, type: cmd.type });
    // A command is the agent's work: a quiet spell after it gives the heap back.
    noteWork();
    // A stop ends the wait on a forwarded command (reported failed below), not the agent's stop.
    const result = await o.router.execute(cmd, this.#closed.signal);
    this.handled++;
    o.onResult?.(cmd, result);
    await this.#report(result, cmd.deployment_hash);
  }

  /**
   * A command that arrived once the stop began: reported failed, not run (a stop starts no new
   * work), so the dashboard can send it again.
   */
  async #notRun(cmd: AgentCommand): Promise<void> {
    this.opts.log.warn("dashboard command not run: the agent is stopping", {
      command_id: cmd.command_id,
      type: cmd.type,
    });
    const r = makeResult(cmd, "status_panel", "failed", null, NOT_RUN_STOPPING);
    await this.#report(r, cmd.deployment_hash);
  }

  async #report(r: CommandResult, deploymentHash?: string): Promise<void> {
    const o = this.opts;
    const body = { ...r, deployment_hash: deploymentHash ?? o.deploymentHash };
    for (let attempt = 1; attempt <= o.reportAttempts; attempt++) {
      try {
        const { signedFetch } = await loadAuth();
        const res = await signedFetch(`${this.#base()}/api/v1/agent/commands/report`, o.identity, {
          json: body,
          signal: AbortSignal.timeout(30_000),
        });
        await res.body?.cancel();
        if (res.ok) return;
        // A 4xx other than auth will not improve by retrying.
        if (res.status >= 400 && res.status < 500 && res.status !== 401 && res.status !== 429) {
          o.log.warn("dashboard refused a report", {
            status: res.status,
            command_id: r.command_id,
          });
          return;
        }
      } catch (err) {
        o.log.warn("report failed", { err, attempt, command_id: r.command_id });
      }
      if (this.#closed.signal.aborted) return;
      // Exponential: a 401 waits out the token source's refresh debounce before giving up.
      await sleep(backoffDelay(attempt - 1, this.#backoff("none")), this.#closed.signal);
    }
    o.log.error("report dropped after retries", { command_id: r.command_id });
  }
}

/** The `command_id` of a command as the dashboard sent it, when it is a valid id. */
function commandIdOf(item: unknown): string | undefined {
  if (typeof item !== "object" || item === null) return undefined;
  const id = (item as { command_id?: unknown }).command_id;
  return typeof id === "string" && COMMAND_ID.test(id) ? id : undefined;
}
