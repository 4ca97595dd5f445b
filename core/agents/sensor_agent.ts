/**
 * The sensor agent: runs each configured trigger plugin on its interval in the sandbox,
 * de-duplicates events by type and source within a window (persisted, and atomic across
 * processes sharing the state folder), and publishes them to the relay (`sensor.<type>`) and/or
 * the orchestrator. A failing plugin is restarted with backoff and reported unhealthy; it never
 * takes the agent down.
 * @module
 */
import { parseDuration } from "../config/mod.ts";
import { sha256Hex } from "../crypto/mod.ts";
import { noteWork, type Service, withShutdown } from "../http/mod.ts";
import { isTopicName } from "../topic/mod.ts";
import type { TriggerEvent } from "../plugin/mod.ts";
import { pluginRuntime } from "./plugin_runtime.ts";
import { backoffDelay, every, sleep } from "../async/mod.ts";
import { MIN_TRIGGER_INTERVAL_MS, type SensorConfig, type TriggerSpec } from "./config.ts";
import type { ComponentHealth } from "./health.ts";
import { catalogFromConfig, type PluginCatalog } from "./plugins.ts";
import { type AgentDeps, type AgentRuntime, createRuntime } from "./runtime.ts";
import { ConfigError, errorMessage } from "../errors/mod.ts";
import { redactErrorText } from "./redact.ts";

/** How often expired dedup keys are pruned. */
const DEDUP_PRUNE_INTERVAL_MS = 60_000;
/** Most events taken from one detect call; the rest are counted as dropped. */
const MAX_EVENTS_PER_RUN = 100;

/**
 * The dedup key of an event: the SHA-256 of its type and source, as the state database keeps
 * it. A source is whatever the plugin names (a host, a user, an account, a card): the database
 * holds its digest, never the text, and two sources are still told apart.
 */
function dedupKey(e: Pick<TriggerEvent, "type" | "source">): string {
  return sha256Hex(`${e.type}\u0000${e.source}`);
}

/** Health of one trigger loop. */
interface TriggerHealth {
  ok: boolean;
  runs: number;
  failures: number;
  consecutive_failures: number;
  restarts: number;
  /** Delay chosen after the last run: the interval when healthy, the backoff after failures. */
  next_delay_ms: number;
  last_error?: string;
  last_run?: string;
}

/** Default trigger interval when neither the trigger nor the plugin config names one. */
const DEFAULT_TRIGGER_INTERVAL_MS = 30_000;

/**
 * A trigger's schedule: its own `interval` (ms or a duration string), else the plugin config's
 * `interval` in seconds (the Stavily plugins' convention; at least 50 ms), else the default.
 */
export function intervalMs(spec: TriggerSpec): number {
  if (typeof spec.interval === "number") return spec.interval;
  if (typeof spec.interval === "string") {
    return parseDuration(spec.interval) ?? DEFAULT_TRIGGER_INTERVAL_MS;
  }
  const fromConfig = spec.config.interval;
  return typeof fromConfig === "number" && fromConfig > 0
    ? Math.max(MIN_TRIGGER_INTERVAL_MS, fromConfig * 1000)
    : DEFAULT_TRIGGER_INTERVAL_MS;
}

function isEvent(v: unknown): v is TriggerEvent {
  const e = v as TriggerEvent;
  return typeof e === "object" && e !== null && typeof e.type === "string" && e.type !== "" &&
    typeof e.source === "string";
}

/** One trigger plugin's loop. */
class TriggerLoop {
  readonly health: TriggerHealth = {
    ok: false,
    runs: 0,
    failures: 0,
    consecutive_failures: 0,
    restarts: 0,
    next_delay_ms: 0,
  };

  constructor(
    private readonly spec: TriggerSpec,
    private readonly rt: AgentRuntime,
    private readonly catalog: PluginCatalog,
    private readonly config: SensorConfig,
    private readonly signal: AbortSignal,
    /** Opens the state store (the dedup window) with the first event that needs it. */
    private readonly openState: () => Promise<void>,
  ) {}

  async run(): Promise<void> {
    const every = intervalMs(this.spec);
    while (!this.signal.aborted) {
      // Whatever a run throws is that trigger's failure, never the process's.
      const ok = await this.#once().catch((err) => this.#failed("internal", errorMessage(err)));
      const wait = ok ? every : Math.min(
        this.config.sensor.restart_max_delay,
        backoffDelay(this.health.consecutive_failures - 1, {
          baseMs: Math.max(every, 500),
          maxMs: this.config.sensor.restart_max_delay,
        }),
      );
      this.health.next_delay_ms = wait;
      await sleep(wait, this.signal);
    }
  }

  async #once(): Promise<boolean> {
    const id = this.spec.plugin_id;
    this.health.runs++;
    this.health.last_run = new Date().toISOString();
    let runner;
    try {
      runner = await this.catalog.runner(id, "trigger", this.spec.config);
    } catch (err) {
      return await this.#failed("load", errorMessage(err));
    }
    if (this.signal.aborted) return true;
    const res = await runner.detect();
    // The agent is stopping: a call its stop cut short (the host killed) is no failure of the
    // plugin, and goes neither to the log nor to the audit trail.
    if (!res.ok && this.signal.aborted) return true;
    this.rt.metrics.duration.observe(
      { plugin: id, result: res.ok ? "ok" : "failed" },
      res.duration_ms / 1000,
    );
    if (!res.ok) {
      await this.catalog.discard(runner);
      this.health.restarts++;
      this.rt.metrics.pluginRestarts.inc({ plugin: id });
      return await this.#failed(res.error.type, res.error.message);
    }
    this.health.ok = true;
    this.health.consecutive_failures = 0;
    this.health.last_error = undefined;
    const events = Array.isArray(res.value) ? res.value : [];
    // Events are the sensor's work: a quiet spell after some gives the heap back.
    if (events.length > 0) noteWork();
    for (const e of events.slice(0, MAX_EVENTS_PER_RUN)) await this.#emit(e);
    return true;
  }

  /**
   * Records a failed run. The plugin's error text leaves the agent (on `/health`, in the log and
   * the audit trail) redacted: secrets, cards and SSNs replaced.
   */
  async #failed(type: string, error: string): Promise<false> {
    const message = redactErrorText(error);
    this.health.ok = false;
    this.health.failures++;
    this.health.consecutive_failures++;
    this.health.last_error = `${type}: ${message}`;
    this.rt.metrics.triggers.inc({ plugin: this.spec.plugin_id, result: "failed" });
    this.rt.log.warn("trigger plugin failed; restarting with backoff", {
      plugin: this.spec.plugin_id,
      error_type: type,
      error: message,
      consecutive_failures: this.health.consecutive_failures,
    });
    await this.rt.audit("plugin.failed", {
      plugin_id: this.spec.plugin_id,
      error_type: type,
      error: message,
    });
    return false;
  }

  /**
   * The de-duplication check: `repeat`, or a new event with the time its key was recorded at
   * (`at`, to forget it by should the event not be delivered). When the state store cannot record
   * it (a full or read-only disk) the event counts as new, with no key: sent twice rather than
   * lost, and `/health` shows the store failing.
   */
  async #firstInWindow(key: string, window: number): Promise<"repeat" | { at?: number }> {
    try {
      await this.openState();
      const at = Date.now();
      return this.rt.state.firstInWindow(key, window, at) ? { at } : "repeat";
    } catch (err) {
      this.rt.log.warn("state store cannot record the event; sent without de-duplication", {
        plugin: this.spec.plugin_id,
        err: errorMessage(err),
      });
      return {};
    }
  }

  /**
   * Forgets the dedup key of an event that was not delivered (the agent stopped with it buffered,
   * or the orchestrator did not take it), so its next report is sent, not taken for a repeat.
   * Once per event, whichever target did not take it.
   */
  #forgetter(key: string, at: number, type: string): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      try {
        this.rt.state.forgetDedup(key, at);
        this.rt.log.info("event not delivered; its next report is sent again", {
          plugin: this.spec.plugin_id,
          type,
        });
      } catch (err) {
        this.rt.log.warn(
          "state store cannot forget an undelivered event; its repeats are dropped",
          {
            plugin: this.spec.plugin_id,
            type,
            err: errorMessage(err),
          },
        );
      }
    };
  }

  async #emit(raw: unknown): Promise<void> {
    const id = this.spec.plugin_id;
    if (!isEvent(raw) || !isTopicName(`sensor.${raw.type}`)) {
      this.rt.metrics.triggers.inc({ plugin: id, result: "invalid" });
      this.rt.log.warn("trigger plugin returned an invalid event; dropped", { plugin: id });
      return;
    }
    const window = this.config.sensor.dedup_window;
    let undelivered = () => {};
    if (window > 0) {
      const key = dedupKey(raw);
      const seen = await this.#firstInWindow(key, window);
      if (seen === "repeat") {
        this.rt.metrics.triggers.inc({ plugin: id, result: "deduplicated" });
        return;
      }
      if (seen.at !== undefined) undelivered = this.#forgetter(key, seen.at, raw.type);
    }
    const payload = { ...raw, agent_id: this.rt.agentId, plugin_id: id } as Record<string, unknown>;
    this.rt.metrics.triggers.inc({ plugin: id, result: "emitted" });
    this.rt.log.info("event emitted", { plugin: id, type: raw.type, source: raw.source });
    await this.rt.audit("trigger.emitted", {
      plugin_id: id,
      type: raw.type,
      source: raw.source,
      event_id: raw.id,
    });
    const to = this.config.sensor.publish_to;
    // The key stays recorded once the event is delivered (or refused for good by the relay);
    // one not delivered (a full buffer, buffered still when the agent stops, the orchestrator's
    // retries spent) has its key forgotten: at least once, never a report taken for a repeat of
    // an event that never went out.
    if (
      to !== "orchestrator" && this.rt.relay &&
      !this.rt.relay.publish(`sensor.${raw.type}`, payload, undelivered)
    ) {
      this.rt.metrics.relayDropped.inc();
      undelivered();
    }
    if (to !== "relay" && this.rt.orchestrator) {
      await this.rt.orchestrator.postEvents(this.config.sensor.events_path, [payload]).catch(
        (err) => {
          this.rt.log.warn("event not delivered to the orchestrator", {
            type: raw.type,
            error: String(err),
          });
          undelivered();
        },
      );
    }
  }
}

/**
 * Every trigger names an installed trigger plugin and a config its manifest accepts, checked
 * before anything runs: a bad trigger is a config error at start, not a warning logged forever.
 * @throws {ConfigError} naming `sensor.triggers` and the trigger (the command puts the source in)
 */
async function checkTriggers(catalog: PluginCatalog, triggers: TriggerSpec[]): Promise<void> {
  for (const [i, t] of triggers.entries()) {
    try {
      const plugin = await catalog.load(t.plugin_id, "trigger");
      (await pluginRuntime()).validatePluginConfig(plugin.manifest, t.config);
    } catch (err) {
      throw new ConfigError(
        "sensor.triggers",
        { kind: "default" },
        "installed trigger plugins, each with a config its plugin.yaml accepts",
        `triggers[${i}] (${t.plugin_id}): ${errorMessage(err)}`,
        { cause: err },
      );
    }
  }
}

/** Starts the sensor agent. */
export async function startSensorAgent(
  config: SensorConfig,
  deps: AgentDeps = {},
): Promise<Service> {
  const rt = await createRuntime("sensor", config, deps, {
    dedupMaxEntries: config.sensor.dedup_max_entries,
    // Sensors may share a state folder: its one write, the de-duplication, is atomic.
    sharedState: true,
  });
  const catalog = catalogFromConfig(rt, config);
  await checkTriggers(catalog, config.sensor.triggers).catch(async (err) => {
    await catalog.close();
    await rt.close();
    throw err;
  });
  const stop = new AbortController();
  // A store that cannot write (full or read-only disk) is shown on /health, not fatal.
  const prune = () => {
    try {
      rt.state.pruneDedup(config.sensor.dedup_window);
    } catch (err) {
      rt.log.warn("state store cannot prune de-duplication keys", { err: errorMessage(err) });
    }
  };
  // The dedup window's database (and node:sqlite) opens with the first event to check, keys of an
  // earlier run included, and is pruned then; until then nothing was added to prune.
  const openState = async () => {
    if (rt.state.isOpen) return;
    await rt.state.open();
    prune();
  };
  const loops = config.sensor.triggers.map((t) =>
    new TriggerLoop(t, rt, catalog, config, stop.signal, openState)
  );
  rt.components.set("plugins", () => pluginsHealth(config.sensor.triggers, loops));
  rt.components.set("queue", () => ({ ok: true, configured: false, depth: 0 }));
  rt.components.set(
    "relay",
    () =>
      rt.relay
        // Not ok while events wait on a relay that does not take them (they are held, bounded),
        // nor while the latest one was refused for good (dropped: a credential without the scope).
        ? rt.relay.publishHealth()
        : { ok: true, configured: false },
  );
  const svc = await rt.health.listen().catch(async (err) => {
    await rt.close();
    throw err;
  });
  rt.heartbeat?.start();
  const running = loops.map((l) => l.run());
  // On core/async's timers: the global setInterval would load Deno's Node layer.
  const pruner = every(DEDUP_PRUNE_INTERVAL_MS, prune);
  rt.log.info("sensor agent started", { triggers: loops.length, base_folder: rt.layout.base });
  return withShutdown(svc, async () => {
    stop.abort();
    pruner.cancel();
    await catalog.close();
    await Promise.allSettled(running);
    await rt.close();
    await svc.close();
  });
}

function pluginsHealth(specs: TriggerSpec[], loops: TriggerLoop[]): ComponentHealth {
  const byId: Record<string, TriggerHealth> = {};
  specs.forEach((s, i) => byId[`${s.plugin_id}#${i}`] = loops[i].health);
  // A loop that has not finished a run yet is not a failure; one whose last run failed is.
  const ok = loops.every((l) => l.health.consecutive_failures === 0);
  return { ok, configured: loops.length > 0, triggers: byId };
}
