/**
 * The sidecar service: signing key, signed manifest, attestation, override policy, flight
 * recorder (+ durable store, relay/audit fan-out) and the routes. With auth on, trace lookups
 * need `trace:read`; `/proxy` (the agent's own entrance, gated by the trust decision), the
 * manifest and the attestation stay open. Answers carry the Python sidecar's names beside
 * iatp's (`logs` beside `records`, `detail` in 404s) so its clients read them unchanged.
 * @module
 */
import { type MeshAuth, requireMeshScope } from "../auth/mod.ts";
import { lateImport } from "../config/mod.ts";
import { HttpError } from "../errors/mod.ts";
import type { Context } from "hono";
import {
  type App,
  type AppEnv,
  createServer,
  type EdgeOptions,
  rawRequestOf,
  type RawRoute,
  responseOf,
  type ServerOptions,
  type Service,
  withShutdown,
} from "../http/mod.ts";
import type { OriginClient } from "../http/client/mod.ts";
import type { Logger } from "../log/mod.ts";
import "../pii/mod.ts"; // keeps cards and SSNs out of every log line
import {
  FlightRecorder,
  isValidTraceId,
  openRecordStore,
  type RecordDetails,
  type RecordType,
  RedisRecordStore,
  type TraceRecord,
} from "../recorder/mod.ts";
import {
  createOverridePolicy,
  isQuarantined,
  type TrustFactors,
  trustScore,
} from "../trust/mod.ts";
import { createEventSink, type EventSinkOptions } from "./events.ts";
import { createIdentity, type Identity, type IdentityOptions } from "./identity.ts";
import type { Proxy, ProxyLimits } from "./proxy.ts";
import { payloadBytesFor } from "./record.ts";

/** Everything the sidecar needs, fixed at startup. */
export interface SidecarOptions {
  host: string;
  port: number;
  log: Logger;
  /** The HTTP edge's bounds (see `edgeOptions` in core/http). */
  edge: EdgeOptions;
  /** Mesh credentials guarding `/trace/:id`. */
  auth: MeshAuth;
  /**
   * Started with `--insecure`: with no credentials it serves requests naming any host, on
   * loopback too (without, an open sidecar on loopback serves only loopback names).
   */
  insecure?: boolean;
  /** The agent behind the sidecar. */
  agentUrl: string;
  /** What the signed manifest and the attestation say, and the key they are signed with. */
  identity: IdentityOptions;
  /** The X-User-Override secret (unset: overrides off) and the unsafe legacy switch. */
  override: { token?: string; legacy: boolean; names?: { token?: string; legacy?: string } };
  /**
   * Records kept in memory; the optional durable store (.db/.sqlite or JSONL) and its bound;
   * the optional Redis store shared by replicas.
   */
  recorder: {
    capacity: number;
    file?: string;
    maxRows: number;
    /** Size a JSONL recorder file is rotated at (`recorder_max_bytes`). */
    maxBytes?: number;
    shared?: SharedRecorderOptions;
  };
  /** Where records go besides the recorder (relay, audit ledger). */
  events: Omit<EventSinkOptions, "agentId" | "log">;
  /** The proxy's bounds and forwarded headers. */
  proxy: ProxyLimits;
  /** With `--workers`: this isolate is one of several on the port (see cluster.ts). */
  role?: SidecarRole;
}

/** Where the flight recorder's records go and lookups are answered. */
export interface TraceBook {
  /**
   * Keeps a record; returns its number, which `after` may give back with the same trace's next
   * record (see `FlightRecorder.record`).
   */
  record(type: RecordType, traceId: string, details: RecordDetails, after?: number): number;
  /**
   * Whether a record is scrubbed as it is made (handed on at once): only then is a clean body
   * remembered for the scrub of its record (see `scrubJsonObjectBytes`).
   */
  readonly readsAtOnce: boolean;
  /** @throws {UnavailableError} when the records cannot be read now */
  lookup(traceId: string): Promise<TraceRecord[]>;
  /**
   * Why records do not reach the relay or the ledger they are handed on to, while they do not
   * (`/health` is degraded meanwhile).
   */
  problem(): string | undefined;
  /** Flushes and closes what the book holds. */
  close(): Promise<void>;
}

/** How an isolate serves when the sidecar runs several (`--workers`). */
export interface SidecarRole {
  /** The main isolate, the first to listen: it refuses a port another process holds. */
  claimPort?: boolean;
  /** Replaces the recorder this isolate would open (the main isolate owns the one recorder). */
  trace: TraceBook;
  /** The `/metrics` text: totals over every isolate. */
  metricsText: NonNullable<ServerOptions["metricsText"]>;
  /** Handed the reader of this isolate's own metrics once the server exists. */
  ownMetrics(read: () => Promise<string>): void;
  /** Open connections of every isolate (`max_connections` caps them together). */
  connections: Int32Array;
}

/** The flight recorder on Redis, shared by replicas. */
export interface SharedRecorderOptions {
  /** `redis://[user@]host[:port][/db]` (setting `recorder_url`). */
  url: string;
  /** Overrides the URL's password. */
  password?: string;
  /** Time a trace is kept after its last record. */
  ttlMs: number;
  /** Newest records kept per trace. */
  traceCap: number;
  /** Records waiting for Redis before new ones are dropped. */
  maxBacklog: number;
  connectTimeoutMs: number;
  /** Longest wait for one Redis command (a write or a lookup). */
  commandTimeoutMs: number;
}

/**
 * The shared store, connected.
 * @throws {ConfigError} naming `recorder_url` (without password) when Redis cannot be reached.
 */
async function connectShared(
  o: SharedRecorderOptions,
  log: Logger,
): Promise<RedisRecordStore> {
  // The database clients' module by a computed specifier: only a sidecar with `recorder_url`
  // loads it, and Deno reads no npm registry data for it at start.
  const { connectRedis } = await lateImport<typeof import("../engine/mod.ts")>(
    "../engine/mod.ts",
    import.meta.url,
  );
  const redis = await connectRedis({
    url: o.url,
    setting: "recorder_url",
    password: o.password,
    connectTimeoutMs: o.connectTimeoutMs,
    commandTimeoutMs: o.commandTimeoutMs,
    clientName: "iatp-sidecar",
    log,
  });
  log.info("shared flight recorder connected", { recorder_url: redis.label });
  return new RedisRecordStore(redis, {
    ttlMs: o.ttlMs,
    traceCap: o.traceCap,
    maxBacklog: o.maxBacklog,
    log,
  });
}

/**
 * The flight recorder (with its optional durable and shared stores) and the relay/audit fan-out.
 * @throws {ConfigError} naming `recorder_url` when the shared recorder's Redis cannot be reached
 */
export async function createRecorder(
  opts: SidecarOptions,
): Promise<{ recorder: FlightRecorder; book: TraceBook }> {
  const { log } = opts;
  const { file, shared } = opts.recorder;
  const sharedStore = shared ? await connectShared(shared, log) : undefined;
  const events = createEventSink({ ...opts.events, agentId: opts.identity.agentId, log });
  const recorder = new FlightRecorder({
    capacity: opts.recorder.capacity,
    payloadBytes: payloadBytesFor(opts.proxy.tracePayloadChars),
    store: file
      ? await openRecordStore(file, {
        maxRows: opts.recorder.maxRows,
        maxBytes: opts.recorder.maxBytes,
        log,
      })
      : undefined,
    shared: sharedStore,
    // Without a relay or a ledger, records are scrubbed only when someone looks them up.
    onRecord: events.enabled ? (r) => events.onRecord(r) : undefined,
  });
  const book: TraceBook = {
    record: (type, id, details, after) => recorder.record(type, id, details, after),
    readsAtOnce: recorder.readsAtOnce,
    lookup: (id) => recorder.lookup(id),
    problem: () => events.problem(),
    close: async () => {
      await recorder.close();
      await events.close();
    },
  };
  return { recorder, book };
}

/** What every trust decision of this sidecar starts from: its declared factors and score. */
function decisionContext(f: TrustFactors, agentId: string) {
  return {
    agentId,
    retention: f.retention,
    reversibility: f.reversibility,
    humanInLoop: f.humanInLoop,
    trustScore: trustScore(f),
    quarantined: isQuarantined(f),
  };
}

/**
 * Starts the sidecar.
 * @throws {ConfigError} naming `signing_key` when the seed is not 32 bytes of base64, or
 * `recorder_url` when the shared recorder's Redis cannot be reached
 * @throws {Deno.errors.AddrInUse} when the port is taken
 */
export async function startSidecarServer(opts: SidecarOptions): Promise<Service> {
  const { log } = opts;
  const f = opts.identity.factors;
  const score = trustScore(f);
  const identity = createIdentity(opts.identity, log);
  const override = createOverridePolicy(opts.override);
  for (const n of override.notices) log[n.level](n.msg);

  const trace = opts.role?.trace ?? (await createRecorder(opts)).book;

  // The request path (the proxy, its body and target checks, the upstream client) loads with the
  // first /proxy request, by a computed specifier: an idle sidecar holds none of it (about 0.5 MB).
  let upstream: OriginClient | undefined;
  let proxy: Proxy | undefined;
  let loading: Promise<Proxy> | undefined;
  // Why the request path cannot serve, for good: /health says so and /ready answers 503, so an
  // orchestrator restarts a sidecar that will never proxy again (it used to fail at start).
  let broken: string | undefined;
  const refuse = (why: string): never => {
    broken = why;
    throw new HttpError(503, `proxy unavailable: ${why}`);
  };
  const loadProxy = (): Promise<Proxy> =>
    loading ??= Promise.all([
      lateImport<typeof import("../http/client/mod.ts")>("../http/client/mod.ts", import.meta.url),
      lateImport<typeof import("./proxy.ts")>("./proxy.ts", import.meta.url),
    ]).then(([client, code]) => {
      // Read from the checkout now: run only if it is still the tree the sidecar started with
      // (else the attestation would vouch for code it never hashed). Kept for the process.
      if (!identity.sourcesUnchanged()) {
        refuse("the program's sources changed since it started (restart it)");
      }
      upstream = client.createOriginClient(opts.agentUrl);
      return proxy = code.createProxy({
        ...opts.proxy,
        agentUrl: opts.agentUrl,
        send: upstream.send,
        decision: decisionContext(f, opts.identity.agentId),
        override,
        recorder: trace,
      });
    }, (err) => {
      // Deno keeps a failed import for the life of the process: every /proxy answers 503.
      log.error("cannot load the proxy's code; /proxy answers 503", { err });
      return refuse("its code could not be loaded");
    });
  // Served on the raw path: no fetch Request or Response, before Hono's router.
  // The proxy copies what it keeps of a body (the recorder's arena, the upstream write) before
  // its answer resolves, so the body may sit in a buffer the connection lends.
  const raw: RawRoute = {
    route: PROXY_ROUTE_LABEL,
    // The first request's answer comes in a reaction: the raw route completes it (no `settle`).
    serve: (req, id, madeId, settle) =>
      proxy
        ? proxy.serve(req, id, madeId, settle)
        : loadProxy().then((p) => p.serve(req, id, madeId)),
    leasesBody: true,
    // Its answers' fields: the trace id (the trace id rule's characters, or a UUID), the score
    // and the latency (digits), X-Agent-Quarantined, a content type of its own or the agent's,
    // which the upstream client took only holding HTAB, SP, VCHAR and obs-text, and the safe
    // fields (constants).
    headersSafe: true,
  };
  const server = createServer({
    service: "sidecar",
    host: opts.host,
    port: opts.port,
    log,
    ...opts.edge,
    anyHost: opts.auth.enabled || opts.insecure === true,
    health: () => {
      // Degraded while the proxy cannot be loaded, or while its records do not reach the relay
      // or the ledger (requests are served either way).
      const reason = broken === undefined ? trace.problem() : `proxy: ${broken}`;
      return reason === undefined
        ? { status: "healthy", agent_id: opts.identity.agentId }
        : { status: "degraded", agent_id: opts.identity.agentId, reason };
    },
    ready: () => broken === undefined,
    // /proxy enforces its own limit so even a 413 carries the trace id.
    bodyLimitExempt: isProxyPath,
    rawRoutes: (method, path) => method === "POST" && isProxyPath(path) ? raw : undefined,
    reusePort: opts.role !== undefined,
    claimPort: opts.role?.claimPort,
    sharedConnections: opts.role?.connections,
    metricsText: opts.role?.metricsText,
  });
  opts.role?.ownMetrics(() => server.metrics.registry.metrics());
  // Also registered with Hono (percent-escaped paths; 405 with Allow for other methods).
  // The agent's answers are passed on as they came: the app adds no field to them.
  const handler = async (c: Context<AppEnv>) => {
    c.set("passedOn", true);
    return responseOf(await raw.serve(rawRequestOf(c.req.raw), ""));
  };
  server.routes((app) => {
    registerInfoRoutes(app, identity, trace, opts.auth);
    app.post("/proxy", handler);
    app.post("/proxy/*", handler);
  });

  const svc = await server.listen().catch(async (err) => {
    upstream?.close();
    await trace.close();
    throw err;
  });
  log.info("sidecar ready", {
    agent_url: opts.agentUrl,
    agent_id: opts.identity.agentId,
    trust_score: score,
    quarantined: isQuarantined(f),
    override: override.mode,
  });
  return withShutdown(svc, async () => {
    await svc.close();
    upstream?.close();
    await trace.close();
  });
}

/** The metrics route label of every /proxy request (what Hono's routePath reports for both). */
const PROXY_ROUTE_LABEL = "/proxy/*";

/** `/proxy` and `/proxy/<path>`. */
function isProxyPath(path: string): boolean {
  return path === "/proxy" || path.startsWith("/proxy/");
}

/** Manifest (both routes), attestation and trace lookup (`trace:read` when auth is on). */
function registerInfoRoutes(
  app: App,
  identity: Identity,
  trace: TraceBook,
  auth: MeshAuth,
): void {
  const manifestResponse = async () => {
    const signed = await identity.manifest();
    return new Response(signed.body, {
      headers: { "content-type": "application/json", "X-IATP-Signature": signed.signature },
    });
  };
  app.get("/capabilities", manifestResponse);
  app.get("/.well-known/agent-manifest", manifestResponse);
  app.get("/.well-known/agent-attestation", async (c) => {
    const attestation = await identity.attestation();
    if (!attestation) {
      // 404 with `detail`, as the Python sidecar answers when it has no attestation.
      throw new HttpError(
        404,
        "attestation unavailable: the sources could not be hashed or changed",
        {
          detail: "No attestation available for this agent",
        },
      );
    }
    return c.json(attestation);
  });
  app.get("/trace/:trace_id", requireMeshScope(auth, "trace:read"), async (c) => {
    const id = c.req.param("trace_id");
    if (!isValidTraceId(id)) throw new HttpError(400, "invalid trace id");
    const records = await trace.lookup(id);
    if (records.length === 0) {
      throw new HttpError(404, "trace not found", { trace_id: id, detail: "Trace not found" });
    }
    // `logs` is the Python sidecar's name for the same list.
    return c.json({ trace_id: id, records, logs: records });
  });
}
