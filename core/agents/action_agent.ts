/**
 * The action agent: takes instructions from the orchestrator poll and/or the relay topic
 * `action.tasks.<agent_id>`, runs up to `max_concurrent_tasks` at once, and reports executing,
 * then completed/failed. Instruction ids are persisted before anything runs, so a redelivered id
 * is never run twice and a crash mid-run is reported as failed on restart. Relay tasks are
 * obeyed only from authorized publishers, and plugins installed only when trusted (see
 * relay_tasks.ts and plugin_trust.ts); every refusal is reported like any failed instruction.
 * @module
 */
import { type Service, withShutdown } from "../http/mod.ts";
import type { ActionConfig } from "./config.ts";
import { logLine } from "./exec_log.ts";
import { ExecutionLog } from "./exec_log.ts";
import { type LateExecutorContext, runLate } from "./late_run.ts";
import type { PluginCatalog } from "./plugins.ts";
import { type RefusedTask, RelayTaskSource, type TaskPublisherPolicy } from "./relay_tasks.ts";
import type { QueuedTaskSource } from "./queued_tasks.ts";
import { lateImport } from "../config/mod.ts";
import { type PluginTrustPolicy, pluginTrustPolicy } from "./plugin_trust.ts";
import { ResultReporter, type TaskSource } from "./reporter.ts";
import { type AgentDeps, type AgentRuntime, createRuntime, stateStartFailure } from "./runtime.ts";
import { boundResult, PluginHealth } from "./results.ts";
import { redactFailure } from "./redact.ts";
import { TaskQueue } from "./queue.ts";
import { every, settledWithin, sleep } from "../async/mod.ts";
import type { Instruction, ResultBody } from "./wire.ts";
import { errorMessage } from "../errors/mod.ts";

/** The JetStream task queue's module. */
type QueuedTasks = typeof import("./queued_tasks.ts");
/** The plugin catalog's module (plugin folders, the plugin runtime, warm runners). */
type Plugins = typeof import("./plugins.ts");

/** The state row of a refused relay event. */
const refusalKey = (eventId: string) => `refused:${eventId}`;

/** One unit of work. */
interface Task {
  inst: Instruction;
  source: TaskSource;
  /** The relay-authenticated publisher of a relay task. */
  publisher?: string;
}

/** The running action agent's moving parts. */
class ActionAgent {
  readonly stop = new AbortController();
  readonly active = new Set<string>();
  readonly queue: TaskQueue<Task>;
  readonly reporter: ResultReporter;
  readonly exec: LateExecutorContext;
  /** The plugin catalog, loaded and made with the first instruction that runs. */
  #catalog?: Promise<PluginCatalog>;
  /** Set when stop closes the catalog: one made after that is closed as it is made. */
  #catalogClosed = false;
  readonly plugins = new PluginHealth();
  relayTasks?: RelayTaskSource;
  queueTasks?: QueuedTaskSource;
  #stopping = false;
  /** Who waits for an instruction to finish (the task queue acknowledges it then). */
  readonly #waiting = new Map<string, Array<() => void>>();

  constructor(
    readonly rt: AgentRuntime,
    readonly config: ActionConfig,
    pluginTrust: PluginTrustPolicy,
  ) {
    this.exec = {
      pluginTrust,
      // Only instructions use it: an agent that has run none holds neither it nor its module.
      // A catalog first asked for after stop closed it (an instruction that had not reached it
      // yet) is closed as it is made, as the one made at start was: it starts no plugin host.
      catalog: () =>
        this.#catalog ??= lateImport<Plugins>("./plugins.ts", import.meta.url).then(async (m) => {
          const catalog = m.catalogFromConfig(rt, config);
          if (this.#catalogClosed) await catalog.close();
          return catalog;
        }),
      installedDir: rt.layout.configPlugins,
      workdir: rt.layout.workdir,
      installMaxBytes: config.plugins.install_max_bytes,
      taskTimeoutMs: config.agent.task_timeout,
      sandboxMaxExecMs: config.security.sandbox.max_exec_time,
      signal: this.stop.signal,
    };
    this.queue = new TaskQueue<Task>({
      concurrency: config.agent.max_concurrent_tasks,
      maxQueued: config.agent.max_queued_tasks,
      run: (t) => this.process(t),
      log: rt.log,
    });
    this.reporter = new ResultReporter(rt, (inst) => this.takePiggyBacked(inst));
  }

  #gauges(): void {
    this.rt.metrics.queueDepth.set(this.queue.depth);
    this.rt.metrics.running.set(this.queue.running);
  }

  /** Records and queues a new instruction; handles redelivered ids idempotently. */
  async accept(inst: Instruction, source: TaskSource, publisher?: string): Promise<boolean> {
    return (await this.#take(inst, source, publisher)) !== "full";
  }

  /**
   * {@linkcode accept}, telling a new (or still active) instruction from a finished one
   * delivered again, whose stored result is re-sent: at once, or with `later` (one piggy-backed
   * on a result's answer) by the next sweep, so an orchestrator answering every result with a
   * finished instruction again is answered once a poll interval, not in a loop.
   */
  async #take(
    inst: Instruction,
    source: TaskSource,
    publisher?: string,
    later = false,
  ): Promise<"queued" | "full" | "duplicate"> {
    await this.rt.state.open(); // the first instruction of a first run creates the database
    const claim = this.rt.state.claim(inst.id, source, inst as unknown as Record<string, unknown>);
    if (claim.kind === "new") {
      await this.rt.audit("instruction.received", {
        instruction_id: inst.id,
        instruction_type: inst.instruction_type,
        plugin_id: inst.plugin_id,
        correlation_id: inst.correlation_id,
        source,
        ...(publisher === undefined ? {} : { publisher }),
      }, inst.id);
      return this.enqueue(inst, source, publisher) ? "queued" : "full";
    }
    if (claim.kind === "active") {
      return this.active.has(inst.id) || this.enqueue(inst, source, publisher) ? "queued" : "full";
    }
    await this.rt.audit("instruction.duplicate", {
      instruction_id: inst.id,
      state: claim.row.state,
    }, inst.id);
    this.rt.log.info("instruction already finished; re-reporting, not re-running", {
      instruction_id: inst.id,
    });
    if (later) this.rt.state.reportAgain(inst.id);
    else if (!claim.row.reported || source === "orchestrator") {
      await this.reporter.deliver(claim.row);
    }
    return "duplicate";
  }

  /** Takes an instruction piggy-backed on a result's answer (see {@linkcode #take}). */
  async takePiggyBacked(inst: Instruction): Promise<void> {
    await this.#take(inst, "orchestrator", undefined, true);
  }

  /** Offers a recorded instruction to the queue; false when full (it stays queued in state). */
  enqueue(inst: Instruction, source: TaskSource, publisher?: string): boolean {
    if (this.active.has(inst.id)) return true;
    if (!this.queue.offer({ inst, source, publisher })) return false;
    this.active.add(inst.id);
    this.#gauges();
    return true;
  }

  /** Reports an instruction that failed validation (when its id is usable). */
  async reject(id: string | undefined, reason: string, source: TaskSource): Promise<void> {
    this.rt.log.warn("invalid instruction", { instruction_id: id, reason });
    await this.rt.audit("instruction.rejected", { instruction_id: id, reason, source }, id);
    if (!id) return;
    await this.rt.state.open();
    const stub = { id, plugin_id: "", instruction_type: "invalid" };
    if (this.rt.state.claim(id, source, stub).kind !== "new") return;
    this.#finish(id, {
      status: "failed",
      error_message: `invalid instruction: ${reason}`,
      error_details: { error_type: "invalid_request" },
      execution_log: [logLine(`rejected: ${reason}`)],
    });
    await this.reporter.deliver(this.rt.state.get(id)!);
  }

  /**
   * True when the relay event `eventId` was refused before. Its report, if still due, is left to
   * the unreported sweep, as for a replayed refusal.
   */
  async refusedBefore(eventId: string): Promise<boolean> {
    await this.rt.state.open();
    return this.rt.state.get(refusalKey(eventId)) !== undefined;
  }

  /**
   * Reports a relay task refused for its publisher as a failed instruction. The refusal is kept
   * under its relay event id, not the task's instruction id: a refused publisher must not be
   * able to claim an id and so block the same id from an authorized one. Its stored type is
   * `refused`, which nothing runs, even if a crash left the row queued.
   */
  async refuse(t: RefusedTask): Promise<void> {
    const key = refusalKey(t.eventId);
    const id = t.instruction.id;
    const stub = {
      id: id ?? key,
      plugin_id: t.instruction.plugin_id ?? "",
      instruction_type: "refused",
    };
    // A replayed event was reported already (or is still in the unreported sweep).
    await this.rt.state.open();
    if (this.rt.state.claim(key, "relay", stub).kind !== "new") return;
    const fields = { instruction_id: id, publisher: t.publisher, code: t.code, reason: t.reason };
    this.rt.log.warn("instruction refused", { ...fields, source: "relay" });
    this.#finish(key, {
      status: "failed",
      error_message: `refused: ${t.reason}`,
      error_details: {
        error_type: "unauthorized",
        reason: t.code,
        ...(t.publisher === undefined ? {} : { publisher: t.publisher }),
        ...(t.instruction.instruction_type === undefined
          ? {}
          : { instruction_type: t.instruction.instruction_type }),
      },
      execution_log: [logLine(`refused: ${t.reason}`)],
    });
    await this.rt.audit("instruction.refused", { ...fields, source: "relay" }, id);
    await this.reporter.deliver(this.rt.state.get(key)!);
  }

  /**
   * Stores an instruction's result (to deliver and re-deliver) and wakes who waits for it. Its
   * error text is redacted first (redact.ts): what is stored is all that ever leaves, to the
   * orchestrator, to `action.results` and to the audit trail. Returns the body as stored.
   */
  #finish(id: string, result: ResultBody): ResultBody {
    const body = redactFailure(result);
    this.rt.state.finish(id, body.status, boundResult(body, this.config.action.max_result_bytes));
    this.#waiting.get(id)?.forEach((done) => done());
    this.#waiting.delete(id);
    return body;
  }

  /** Resolves once instruction `id` is finished (completed or failed; at once if it is). */
  finished(id: string): Promise<void> {
    const state = this.rt.state.get(id)?.state;
    if (state === "completed" || state === "failed") return Promise.resolve();
    return new Promise((done) => this.#waiting.set(id, [...this.#waiting.get(id) ?? [], done]));
  }

  /** Runs one task start to finish. */
  async process({ inst, source, publisher }: Task): Promise<void> {
    this.#gauges();
    this.rt.state.markRunning(inst.id);
    const log = new ExecutionLog(this.config.action.max_log_lines);
    log.add(
      `instruction ${inst.id} (${inst.instruction_type}, plugin ${inst.plugin_id}) from ${source}`,
    );
    if (source === "orchestrator" && this.rt.orchestrator) {
      await this.rt.orchestrator.reportExecuting(inst.id, log.lines()).catch((err) =>
        this.rt.log.warn("executing status not delivered", {
          instruction_id: inst.id,
          error: String(err),
        })
      );
    }
    // The executor and the plugin catalog load with the first instruction (a failed load is
    // this instruction's failure, reported as any other).
    let body = await runLate(
      inst,
      this.exec,
      log,
      (err) =>
        this.rt.log.error("the instruction runner could not be loaded", {
          instruction_id: inst.id,
          err,
        }),
    );
    if (this.#stopping && body.status === "failed") {
      log.add("the agent stopped while this instruction was running");
      body = {
        ...body,
        error_details: { ...body.error_details, error_type: "interrupted" },
        execution_log: log.lines(),
      };
    }
    body = this.#finish(inst.id, body);
    this.#record(inst, body);
    this.rt.log.info("instruction finished", {
      instruction_id: inst.id,
      instruction_type: inst.instruction_type,
      plugin_id: inst.plugin_id,
      source,
      publisher,
      status: body.status,
      error_type: body.error_details?.error_type,
      reason: body.error_details?.reason,
    });
    await this.rt.audit("instruction.executed", {
      instruction_id: inst.id,
      plugin_id: inst.plugin_id,
      status: body.status,
      error_type: body.error_details?.error_type,
      error_message: body.error_message,
      duration_ms: body.result?.duration_ms ?? body.error_details?.duration_ms,
    }, inst.id);
    this.active.delete(inst.id);
    this.#gauges();
    await this.reporter.deliver(this.rt.state.get(inst.id)!);
  }

  #record(inst: Instruction, body: ResultBody): void {
    const errorType = String(body.error_details?.error_type ?? "");
    const plugin = inst.instruction_type === "execute"
      ? inst.plugin_id || "none"
      : inst.instruction_type;
    this.rt.metrics.executions.inc({ plugin, result: body.status, error_type: errorType });
    const ms = Number(body.result?.duration_ms ?? body.error_details?.duration_ms ?? 0);
    this.rt.metrics.duration.observe({ plugin, result: body.status }, ms / 1000);
    if (inst.instruction_type === "execute") this.plugins.record(inst.plugin_id, body);
  }

  /** Turns rows left `running` by a crash into failed results, and re-queues `queued` rows. */
  async recover(): Promise<void> {
    for (const row of this.rt.state.inState("running")) {
      const reason =
        "interrupted: the agent stopped (crash or kill) while this instruction was running; " +
        "it was not re-run to avoid executing it twice";
      this.rt.log.warn("instruction interrupted by a previous stop", { instruction_id: row.id });
      this.#finish(row.id, {
        status: "failed",
        error_message: reason,
        error_details: { error_type: "interrupted", plugin_id: row.instruction.plugin_id },
        execution_log: [logLine(reason)],
      });
      await this.rt.audit("instruction.interrupted", { instruction_id: row.id }, row.id);
    }
    this.requeue();
  }

  /** Offers instructions recorded as queued but not held in memory (restart, full queue). */
  requeue(): void {
    for (const row of this.rt.state.inState("queued")) {
      if (this.active.has(row.id)) continue;
      if (!this.enqueue(row.instruction as unknown as Instruction, row.source as TaskSource)) break;
    }
  }

  /**
   * Polls the orchestrator while a worker is idle, honouring `next_poll_interval`: at once after
   * a delivered instruction, else after `agent.poll_interval`. A failed poll and an instruction
   * the agent cannot parse both wait `agent.poll_interval` (or a longer `next_poll_interval`):
   * an orchestrator that keeps answering junk is not polled in a loop.
   */
  async pollLoop(): Promise<void> {
    const orch = this.rt.orchestrator!;
    const signal = this.stop.signal;
    const interval = this.config.agent.poll_interval;
    while (!signal.aborted) {
      await this.queue.waitForIdleWorker(signal);
      if (signal.aborted) break;
      let wait = interval;
      try {
        const out = await orch.poll();
        if (out.rejected) await this.reject(out.rejected.id, out.rejected.reason, "orchestrator");
        const taken = out.instruction && await this.#take(out.instruction, "orchestrator");
        if (out.rejected) {
          wait = Math.max(interval, out.nextPollMs ?? 0);
          this.rt.log.warn("the orchestrator's instruction was not valid; next poll waits", {
            instruction_id: out.rejected.id,
            next_poll_ms: wait,
          });
        } else if (out.nextPollMs !== undefined && out.nextPollMs > 0) wait = out.nextPollMs;
        // A finished instruction delivered again is no new work: the next poll waits.
        else if (taken && taken !== "duplicate") wait = 0;
      } catch (err) {
        if (signal.aborted) break;
        this.rt.log.warn("instruction poll failed", {
          error: errorMessage(err),
          next_poll_ms: wait,
        });
      }
      await sleep(wait, signal);
    }
  }

  /** Stops taking work, waits (bounded) for running tasks, then stops everything. */
  async close(): Promise<void> {
    this.stop.abort();
    this.relayTasks?.close();
    await this.queueTasks?.stop();
    const done = await this.queue.close(this.config.agent.shutdown_timeout);
    if (!done) {
      this.#stopping = true;
      this.rt.log.warn(
        "stopping with instructions still running; they are reported as interrupted",
        {
          running: this.queue.running,
        },
      );
    }
    // A catalog still loading is closed once made, one asked for later as it is made; one that
    // failed to load holds nothing.
    this.#catalogClosed = true;
    await this.#catalog?.then((c) => c.close(), () => {});
    // Their plugin hosts stopped, the instructions still running end at once; bounded all the same.
    if (!done) await this.queue.close(this.config.agent.shutdown_timeout);
    await this.queueTasks?.close();
  }
}

/** Starts the action agent: health server, heartbeats, poll loop and/or relay subscription. */
export async function startActionAgent(
  config: ActionConfig,
  deps: AgentDeps = {},
): Promise<Service> {
  // Settings errors surface before anything is opened.
  const trust = pluginTrustPolicy(config.plugins);
  const publishers: TaskPublisherPolicy = {
    publishers: config.relay.task_publishers,
    acceptAnonymous: config.relay.accept_anonymous_tasks,
  };
  // Instructions of an earlier run (running, queued, unreported) are resumed at start.
  const rt = await createRuntime("action", config, deps, { openStateAtStart: true });
  const agent = new ActionAgent(rt, config, trust);
  const src = config.action.task_source;
  const usePoll = rt.orchestrator !== undefined && src !== "relay";
  const useQueue = config.relay.queue !== undefined && src !== "orchestrator";
  const useRelay = rt.relay !== undefined && src !== "orchestrator" && !useQueue;
  rt.components.set("queue", () => ({
    ok: true,
    depth: agent.queue.depth,
    running: agent.queue.running,
    max_concurrent_tasks: config.agent.max_concurrent_tasks,
    max_queued_tasks: config.agent.max_queued_tasks,
  }));
  rt.components.set("plugins", () => agent.plugins.health());
  rt.components.set("results", () => agent.reporter.health());
  rt.components.set(
    "relay",
    () =>
      agent.queueTasks?.health() ?? agent.relayTasks?.health() ??
        { ok: true, configured: rt.relay !== undefined },
  );
  await agent.recover().catch(async (err) => {
    await rt.close();
    stateStartFailure(err, rt.state.file);
  });
  if (useQueue) {
    // The JetStream queue (its NATS client and the relay's wire) loads only where configured.
    agent.queueTasks = await lateImport<QueuedTasks>("./queued_tasks.ts", import.meta.url).then((
      { openTaskQueue },
    ) => openTaskQueue(rt, config, agent, publishers)).catch(async (err) => {
      await rt.close();
      throw err;
    });
  }
  const svc = await rt.health.listen().catch(async (err) => {
    await rt.close();
    throw err;
  });
  rt.heartbeat?.start();
  const loops: Promise<void>[] = [];
  if (usePoll) loops.push(agent.pollLoop());
  if (useRelay) {
    if (publishers.acceptAnonymous) {
      rt.log.warn(
        "relay.accept_anonymous_tasks is on: anyone who can publish to the relay can give " +
          "this agent orders (development only)",
        { topic: `action.tasks.${rt.agentId}` },
      );
    }
    agent.relayTasks = new RelayTaskSource(rt, agent, publishers);
  }
  // On core/async's timers: the global setInterval would load Deno's Node layer.
  const sweeper = every(Math.max(1_000, config.agent.poll_interval), () => {
    agent.reporter.sweep().then(() => agent.requeue()).catch((err) =>
      rt.log.warn("sweep failed", { err })
    );
  });
  agent.reporter.sweep().catch(() => {});
  rt.log.info("action agent started", {
    poll: usePoll,
    relay: useRelay,
    queue: useQueue ? config.relay.queue_group ?? rt.agentId : false,
    base_folder: rt.layout.base,
    task_publishers: publishers.publishers.length > 0 ? publishers.publishers : "any authenticated",
    plugin_trusted_keys: trust.trustedKeys.length,
    plugin_allowed_sources: trust.allowedSources.length,
  });
  return withShutdown(svc, async () => {
    sweeper.cancel();
    await agent.close();
    await Promise.allSettled(loops);
    // One last delivery attempt, bounded: unreported results stay in state for next start.
    await settledWithin(
      agent.reporter.drain().then(() => agent.reporter.sweep()),
      config.agent.report_flush_timeout,
    );
    await rt.close();
    await svc.close();
  });
}
