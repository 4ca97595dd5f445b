/**
 * A fake Stavily orchestrator for tests (the real one is not public). It speaks exactly the four
 * calls of the Stavily orchestrator API (docs/protocols.md) over a real socket, validates every
 * body it receives against that wire format (recording violations instead of tolerating them), and
 * lets tests queue instructions, set `next_poll_interval` and inject failures. One extra route, the
 * sensor's event POST (`/agents/v1/{id}/triggers`), is an iatp extension and is marked as such.
 * @module
 */

/** A recorded request. */
export interface Recorded {
  at: number;
  method: string;
  path: string;
  status: number;
  body?: unknown;
  /** Request headers, lower-case names. */
  headers: Record<string, string>;
}

const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const LOG_LINE = /^\[\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\] /;
const RESULT_KEYS = new Set([
  "status",
  "result",
  "error_message",
  "error_details",
  "execution_log",
]);

/** Options for {@linkcode startFakeOrchestrator}. */
export interface FakeOrchestratorOptions {
  agentId: string;
  token: string;
  /** Seconds sent as `next_poll_interval`; default 1. */
  nextPollInterval?: number;
  /** Loopback port to listen on; default a free one. */
  port?: number;
}

/** A running fake orchestrator. */
export interface FakeOrchestrator {
  url: string;
  requests: Recorded[];
  /** Wire-format violations seen (tests assert this stays empty). */
  violations: string[];
  heartbeats(): Array<{ timestamp: string; status: string; at: number }>;
  polls(): Recorded[];
  statusUpdates(id?: string): Recorded[];
  results(id?: string): Array<{ id: string; body: Record<string, unknown>; at: number }>;
  events(): Record<string, unknown>[];
  /** Queues an instruction for delivery on a later poll. */
  enqueue(instruction: Record<string, unknown>): void;
  /** Number of instructions still queued. */
  pending(): number;
  /** Makes the next `count` requests matching `route` answer `status`. */
  failNext(
    route: "heartbeat" | "poll" | "status" | "result" | "events",
    count: number,
    status: number,
  ): void;
  /** Makes the next request matching `route` wait `ms` before it is answered. */
  holdNext(route: "heartbeat" | "poll" | "status" | "result" | "events", ms: number): void;
  /** Requests matching `route` held now (see {@linkcode holdNext}). */
  holding(route: "heartbeat" | "poll" | "status" | "result" | "events"): number;
  setNextPollInterval(seconds: number | null): void;
  close(): Promise<void>;
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === "string");
}

function checkResult(body: Record<string, unknown>, violations: string[], id: string): void {
  for (const k of Object.keys(body)) {
    if (!RESULT_KEYS.has(k)) violations.push(`result ${id}: unknown field ${k}`);
  }
  if (body.status !== "completed" && body.status !== "failed") {
    violations.push(`result ${id}: status ${JSON.stringify(body.status)}`);
  }
  if (!isStringArray(body.execution_log)) violations.push(`result ${id}: execution_log`);
  else if (!body.execution_log.every((l) => LOG_LINE.test(l))) {
    violations.push(`result ${id}: execution_log line format`);
  }
  for (const k of ["result", "error_details"]) {
    const v = body[k];
    if (v !== undefined && (v === null || typeof v !== "object" || Array.isArray(v))) {
      violations.push(`result ${id}: ${k} must be an object`);
    }
  }
  if (body.error_message !== undefined && typeof body.error_message !== "string") {
    violations.push(`result ${id}: error_message must be a string`);
  }
}

type Kind = "heartbeat" | "poll" | "status" | "result" | "events";

/** The fake's state and handlers; see the module doc. */
class Fake {
  readonly requests: Recorded[] = [];
  readonly violations: string[] = [];
  readonly queue: Record<string, unknown>[] = [];
  readonly faults: Partial<Record<Kind, { count: number; status: number }>> = {};
  readonly holds: Partial<Record<Kind, number>> = {};
  readonly held: Partial<Record<Kind, number>> = {};
  npi: number | null;
  readonly #base: string;

  constructor(private readonly opts: FakeOrchestratorOptions) {
    this.npi = opts.nextPollInterval ?? 1;
    this.#base = `/agents/v1/${opts.agentId}`;
  }

  #route(method: string, path: string): [Kind, string?] | undefined {
    const base = this.#base;
    if (method === "POST" && path === `${base}/heartbeat`) return ["heartbeat"];
    if (method === "GET" && path === `${base}/instructions`) return ["poll"];
    if (method === "POST" && path === `${base}/triggers`) return ["events"]; // iatp extension
    const m = /^\/instructions\/([^/]+)(\/result)?$/.exec(path.slice(base.length));
    if (!path.startsWith(base) || !m) return undefined;
    if (method === "PUT" && !m[2]) return ["status", decodeURIComponent(m[1])];
    if (method === "POST" && m[2]) return ["result", decodeURIComponent(m[1])];
    return undefined;
  }

  /** Handles one request: [status, response body, recorded request body]. */
  async handle(req: Request): Promise<[number, unknown, unknown?]> {
    const r = this.#route(req.method, new URL(req.url).pathname);
    if (!r) return [404, { error: "not found" }];
    if (req.headers.get("authorization") !== `Bearer ${this.opts.token}`) {
      return [401, { error: "unauthorized" }];
    }
    const hold = this.holds[r[0]];
    if (hold !== undefined) {
      delete this.holds[r[0]];
      this.held[r[0]] = (this.held[r[0]] ?? 0) + 1;
      await new Promise((done) => setTimeout(done, hold));
      this.held[r[0]]! -= 1;
    }
    const fault = this.faults[r[0]];
    if (fault && fault.count > 0) {
      fault.count--;
      return [fault.status, { error: "injected failure" }];
    }
    if (req.method === "GET") return this.#answer(r[0], r[1], {});
    let body: Record<string, unknown>;
    try {
      body = await req.json();
    } catch {
      this.violations.push(`${r[0]}: body is not JSON`);
      return [400, { error: "invalid JSON" }];
    }
    return [...this.#answer(r[0], r[1], body), body];
  }

  #answer(kind: Kind, id: string | undefined, body: Record<string, unknown>): [number, unknown] {
    const v = this.violations;
    switch (kind) {
      case "heartbeat":
        if (typeof body.timestamp !== "string" || !RFC3339_UTC.test(body.timestamp)) {
          v.push(`heartbeat: timestamp ${JSON.stringify(body.timestamp)}`);
        }
        if (body.status !== "online" && body.status !== "offline") {
          v.push(`heartbeat: status ${JSON.stringify(body.status)}`);
        }
        return [200, { status: "ok" }];
      case "poll": {
        const instruction = this.queue.shift() ?? null;
        return [200, {
          instruction,
          status: instruction ? "instruction_delivered" : "no_pending_instructions",
          ...(this.npi === null ? {} : { next_poll_interval: this.npi }),
        }];
      }
      case "status":
        if (body.status !== "executing" || !isStringArray(body.execution_log)) {
          v.push(`status ${id}: ${JSON.stringify(body)}`);
        }
        return [200, {
          success: true,
          instruction_id: id,
          updated_fields: ["status", "execution_log"],
        }];
      case "result":
        checkResult(body, v, id!);
        return [200, { acknowledged: true, next_instruction: null }];
      case "events":
        // Stavily's ReportTriggerRequest{agent_id, events[TriggerEvent]} (shared/pkg/api/types.go).
        if (!Array.isArray(body.events)) v.push("events: events must be a list");
        if (body.agent_id !== this.opts.agentId) v.push("events: agent_id");
        for (const e of Array.isArray(body.events) ? body.events : []) {
          for (const k of ["id", "type", "source", "timestamp", "metadata", "agent_id"]) {
            if (!(k in e)) v.push(`events: event lacks ${k}`);
          }
          if (!("tenant_id" in e)) v.push("events: event lacks tenant_id");
        }
        return [201, { accepted: Array.isArray(body.events) ? body.events.length : 0 }];
    }
  }

  /** Successful requests matching `pred`. */
  ok(pred: (r: Recorded) => boolean): Recorded[] {
    return this.requests.filter((r) => r.status < 300 && pred(r));
  }
}

function view(fake: Fake, url: string, server: Deno.HttpServer): FakeOrchestrator {
  return {
    url,
    requests: fake.requests,
    violations: fake.violations,
    heartbeats: () =>
      fake.ok((r) => r.path.endsWith("/heartbeat"))
        .map((r) => ({ ...(r.body as { timestamp: string; status: string }), at: r.at })),
    polls: () => fake.ok((r) => r.method === "GET" && r.path.endsWith("/instructions")),
    statusUpdates: (id) =>
      fake.ok((r) =>
        r.method === "PUT" && (id === undefined || r.path.endsWith(`/instructions/${id}`))
      ),
    results: (id) =>
      fake.ok((r) =>
        r.path.endsWith("/result") && (id === undefined || r.path.includes(`/instructions/${id}/`))
      )
        .map((r) => ({
          id: decodeURIComponent(r.path.split("/")[5]),
          body: r.body as Record<string, unknown>,
          at: r.at,
        })),
    events: () =>
      fake.ok((r) => r.path.endsWith("/triggers"))
        .flatMap((r) => (r.body as { events?: Record<string, unknown>[] }).events ?? []),
    enqueue: (i) => fake.queue.push(i),
    pending: () => fake.queue.length,
    failNext: (r, count, status) => {
      fake.faults[r] = { count, status };
    },
    holding: (r) => fake.held[r] ?? 0,
    holdNext: (r, ms) => {
      fake.holds[r] = ms;
    },
    setNextPollInterval: (s) => {
      fake.npi = s;
    },
    close: () => server.shutdown(),
  };
}

/** Starts the fake on 127.0.0.1 (`opts.port`, or a free port). */
export async function startFakeOrchestrator(
  opts: FakeOrchestratorOptions,
): Promise<FakeOrchestrator> {
  const fake = new Fake(opts);
  const { promise, resolve } = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: opts.port ?? 0,
    onListen: (a) => resolve(a as Deno.NetAddr),
  }, async (req) => {
    const [status, out, body] = await fake.handle(req);
    fake.requests.push({
      at: Date.now(),
      method: req.method,
      path: new URL(req.url).pathname,
      status,
      body,
      headers: Object.fromEntries(req.headers),
    });
    return Response.json(out, { status });
  });
  const addr = await promise;
  return view(fake, `http://127.0.0.1:${addr.port}`, server);
}
