/**
 * A fake of the (non-public) dashboard's agent API, speaking exactly the TryDirect status wire
 * (docs/protocols.md) format: `GET /api/v1/agent/commands/wait/{deployment_hash}?timeout=N` answers
 * 200 `{item, meta:{next_poll_secs}}` or 204, and `POST /api/v1/agent/commands/report` takes
 * `{command_id, deployment_hash, status, completed_at, executed_by?, result?, error?}`. Every
 * request must carry a valid signature (X-Agent-Id, X-Timestamp, X-Request-Id, X-Agent-Signature),
 * else 401; replays are 409. When the fake is given a `bearer` credential, requests must also carry
 * `Authorization: Bearer <bearer>`; without one they must carry no Authorization header. Every
 * Authorization value received is kept, so a test can prove the HMAC key never travels.
 * @module
 */
import {
  HEADER_AGENT_ID,
  HEADER_REQUEST_ID,
  HEADER_SIGNATURE,
  HEADER_TIMESTAMP,
  verifySignature,
} from "../../core/auth/mod.ts";

/** A report as received. */
export interface ReceivedReport {
  command_id: string;
  deployment_hash: string;
  status: string;
  completed_at: string;
  executed_by?: string;
  result?: unknown;
  error?: string | null;
}

/** Options for {@linkcode startFakeDashboard}. */
export interface FakeDashboardOptions {
  /** The agent's HMAC key the dashboard verifies signatures with. */
  token: string;
  /** The agent's dashboard credential, expected as `Authorization: Bearer`; none: no header. */
  bearer?: string;
  deploymentHash: string;
  maxSkewSecs?: number;
  /** Longest time a poll is held open, whatever the agent asks (keeps tests quick). */
  maxHoldMs?: number;
}

/** A running fake dashboard. */
export interface FakeDashboard {
  url: string;
  /** Queues a command for the next poll. */
  enqueue(item: { command_id: string; type: string; parameters?: Record<string, unknown> }): void;
  /**
   * Queues a 200 poll answer sent as given instead of `{item, meta}` (a dashboard that does not
   * speak the wire: a command at the top level, a list, ...); answered in turn with commands.
   */
  enqueueAnswer(body: unknown): void;
  reports: ReceivedReport[];
  /** Polls answered, and requests refused (by reason). */
  stats: { polls: number; rejected: Record<string, number> };
  /** Every distinct Authorization header value received. */
  authorizations: Set<string>;
  /** Changes the expected HMAC key (rotation). */
  setToken(token: string): void;
  /** Changes the expected bearer credential (rotation). */
  setBearer(bearer: string | undefined): void;
  /** Resolves with the report for `commandId`. */
  waitForReport(commandId: string, timeoutMs?: number): Promise<ReceivedReport>;
  close(): Promise<void>;
}

/** Starts the fake on a free loopback port. */
export function startFakeDashboard(opts: FakeDashboardOptions): FakeDashboard {
  let token = opts.token;
  let bearer = opts.bearer;
  const authorizations = new Set<string>();
  /** Commands, and answers sent as they are (`raw`). */
  const queue: Array<{ item: Record<string, unknown> } | { raw: unknown }> = [];
  const waiters = new Set<() => void>();
  let closed = false;
  const seen = new Set<string>();
  const reports: ReceivedReport[] = [];
  const stats = { polls: 0, rejected: {} as Record<string, number> };
  const refuse = (status: number, reason: string) => {
    stats.rejected[reason] = (stats.rejected[reason] ?? 0) + 1;
    return Response.json({ error: reason }, { status });
  };

  const authenticate = async (req: Request, body: Uint8Array): Promise<Response | undefined> => {
    const h = (n: string) => req.headers.get(n) ?? "";
    if (
      !h(HEADER_AGENT_ID) || !h(HEADER_TIMESTAMP) || !h(HEADER_REQUEST_ID) || !h(HEADER_SIGNATURE)
    ) {
      return refuse(401, "unsigned");
    }
    const authz = req.headers.get("authorization");
    if (authz !== null) authorizations.add(authz);
    if (bearer === undefined && authz !== null) return refuse(401, "unexpected_bearer");
    if (bearer !== undefined && authz !== `Bearer ${bearer}`) return refuse(401, "bad_bearer");
    if (Math.abs(Date.now() / 1000 - Number(h(HEADER_TIMESTAMP))) > (opts.maxSkewSecs ?? 300)) {
      return refuse(401, "skew");
    }
    const u = new URL(req.url);
    const ok = await verifySignature(token, {
      agentId: h(HEADER_AGENT_ID),
      method: req.method,
      pathAndQuery: u.pathname + u.search,
      timestamp: h(HEADER_TIMESTAMP),
      requestId: h(HEADER_REQUEST_ID),
      body,
    }, h(HEADER_SIGNATURE));
    if (!ok) return refuse(401, "bad_signature");
    const key = `${h(HEADER_AGENT_ID)}/${h(HEADER_REQUEST_ID)}`;
    if (seen.has(key)) return refuse(409, "replay");
    seen.add(key);
    return undefined;
  };

  const poll = async (req: Request, hash: string): Promise<Response> => {
    if (hash !== opts.deploymentHash) {
      return Response.json({ error: "unknown deployment" }, { status: 404 });
    }
    const asked = Number(new URL(req.url).searchParams.get("timeout") ?? "30") * 1000;
    const hold = Math.min(asked, opts.maxHoldMs ?? 2000);
    const until = Date.now() + hold;
    while (queue.length === 0 && Date.now() < until && !closed) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, until - Date.now());
        function done() {
          clearTimeout(t);
          waiters.delete(done);
          resolve();
        }
        waiters.add(done);
      });
    }
    stats.polls++;
    const next = queue.shift();
    if (!next) return new Response(null, { status: 204 });
    if ("raw" in next) return Response.json(next.raw);
    return Response.json({ item: next.item, meta: { next_poll_secs: 0 } });
  };

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const body = new Uint8Array(await req.arrayBuffer());
    const denied = await authenticate(req, body);
    if (denied) return denied;
    const path = new URL(req.url).pathname;
    const wait = /^\/api\/v1\/agent\/commands\/wait\/([^/]+)$/.exec(path);
    if (req.method === "GET" && wait) return await poll(req, decodeURIComponent(wait[1]));
    if (req.method === "POST" && path === "/api/v1/agent/commands/report") {
      const r = JSON.parse(new TextDecoder().decode(body)) as ReceivedReport;
      for (const k of ["command_id", "deployment_hash", "status", "completed_at"] as const) {
        if (typeof r[k] !== "string") {
          return Response.json({ error: `missing ${k}` }, { status: 400 });
        }
      }
      reports.push(r);
      return Response.json({ status: "ok" });
    }
    return Response.json({ error: "not found" }, { status: 404 });
  });

  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    enqueue(item) {
      queue.push({ item: { parameters: {}, deployment_hash: opts.deploymentHash, ...item } });
      for (const w of [...waiters]) w();
    },
    enqueueAnswer(raw) {
      queue.push({ raw });
      for (const w of [...waiters]) w();
    },
    reports,
    stats,
    authorizations,
    setToken: (t) => token = t,
    setBearer: (b) => bearer = b,
    async waitForReport(commandId, timeoutMs = 60_000) {
      const until = Date.now() + timeoutMs;
      while (Date.now() < until) {
        const r = reports.find((x) => x.command_id === commandId);
        if (r) return r;
        await new Promise((res) => setTimeout(res, 25));
      }
      throw new Error(
        `no report for ${commandId} within ${timeoutMs} ms (${JSON.stringify(stats)})`,
      );
    },
    async close() {
      closed = true;
      for (const w of [...waiters]) w();
      await server.shutdown();
    },
  };
}
