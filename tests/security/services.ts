/**
 * Starts every iatp service as a real child process (through the launcher, with its real
 * permissions), each with the endpoints a hostile client can reach, for the security tests.
 * @module
 */
import { join } from "node:path";
import { type ChildService, startIatpService, tempDir } from "../helpers.ts";

/** A running service and what a client can call on it. */
export interface Target {
  name: string;
  url: string;
  port: number;
  child: ChildService;
  /** Routes that take a body (method and path). */
  posts: string[];
  /** A valid body for some of them, by path (its values are then attacked one by one). */
  samples?: Record<string, Record<string, unknown>>;
  /** Routes that take no body, with a sample path for each (params filled in). */
  gets: string[];
}

/** Everything started, and how to stop it. */
export interface Fleet {
  targets: Target[];
  stop(): Promise<void>;
}

const KEY = "fuzz-agent-token-0123456789abcdef";

/** A stand-in agent for the sidecar: any request gets 200 JSON, so no 5xx comes from it. */
function startAgent(): { url: string; close(): Promise<void> } {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    await req.body?.cancel();
    return Response.json({ ok: true });
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
}

function yaml(obj: unknown): string {
  return JSON.stringify(obj); // YAML is a superset of JSON
}

/** What a client can call on each service (paths with their params filled in). */
const ROUTES: Record<string, Pick<Target, "posts" | "gets" | "samples">> = {
  relay: {
    posts: ["/publish"],
    gets: ["/topics", "/subscribe?topic=fuzz.a&since=0"],
    samples: { "/publish": { topic: "fuzz.a", payload: { a: 1, b: ["x"] } } },
  },
  policy: {
    posts: ["/evaluate"],
    gets: ["/policies"],
    samples: {
      "/evaluate": {
        tx_id: "tx-1",
        subject: { enterprise: "A", id: "agent-1", roles: ["buyer"] },
        resource: { enterprise: "B", id: "catalog", scope: "read" },
        context: { device: "laptop", geo: "EU", session_risk: 42 },
      },
    },
  },
  audit: {
    posts: ["/audit"],
    samples: { "/audit": { tx_id: "tx-1", event: "e", actor: "a", payload: { n: 1, s: "x" } } },
    gets: [
      "/checkpoint",
      "/entries/0",
      "/proof/inclusion?index=0&size=1",
      "/proof/consistency?first=1&second=1",
      "/tx/fuzz-1",
    ],
  },
  dashboard: { posts: [], gets: ["/", "/api/state", "/static/app.js", "/tx/fuzz-1"] },
  sidecar: {
    posts: ["/proxy", "/proxy/chat/completions?x=1"],
    samples: { "/proxy": { task: "purchase", items: [{ sku: "a", qty: 1 }] } },
    gets: [
      "/capabilities",
      "/.well-known/agent-manifest",
      "/.well-known/agent-attestation",
      "/trace/00000000-0000-4000-8000-000000000000",
    ],
  },
  sensor: { posts: [], gets: [] },
  action: { posts: [], gets: [] },
  "compose-agent": {
    posts: ["/api/v1/commands/execute", "/api/v1/commands/enqueue", "/api/v1/commands/report"],
    gets: ["/api/v1/commands/wait/dep-fuzz?timeout=1"],
  },
  status: { posts: [], gets: ["/api/v1/metrics", "/capabilities"] },
};

/** Writes the sensor and action configs (YAML) next to `dir`; returns their paths. */
async function writeAgentConfigs(dir: string, relayUrl: string) {
  const write = async (kind: string, extra: Record<string, unknown>) => {
    const path = join(dir, `${kind}.yaml`);
    const agent = { id: `fuzz-${kind}`, type: kind, base_folder: join(dir, kind) };
    await Deno.writeTextFile(
      path,
      yaml({ agent, relay: { url: relayUrl }, health: { port: 0 }, ...extra }),
    );
    return path;
  };
  return {
    sensor: await write("sensor", {
      sensor: {
        publish_to: "relay",
        triggers: [{ plugin_id: "cpu-monitor", interval: "1h", config: { threshold: 99 } }],
      },
    }),
    action: await write("action", { action: { task_source: "relay" } }),
  };
}

/** The command line of each service but the relay (which the agents and dashboard need). */
function commands(dir: string, relayUrl: string, configs: { sensor: string; action: string }) {
  const noSocket = join(dir, "no-docker.sock");
  return {
    policy: ["policy", "--port", "0"],
    audit: ["audit", "--port", "0", "--db", join(dir, "audit.db")],
    dashboard: ["dashboard", "--port", "0", "--relay-url", relayUrl],
    sidecar: ["sidecar", "--port", "0"],
    sensor: ["sensor", "--config", configs.sensor],
    action: ["action", "--config", configs.action],
    "compose-agent": ["compose-agent", "--port", "0", "--docker-socket", noSocket],
    status: ["status", "--port", "0", "--docker-socket", noSocket],
  };
}

/**
 * Starts relay, policy, audit, dashboard, sidecar, sensor, action, compose-agent and status
 * (all but the relay in parallel), with `extraArgs` added to each command line.
 */
export async function startFleet(extraArgs: string[] = []): Promise<Fleet> {
  const dir = await tempDir("iatp-security-");
  const agent = startAgent();
  const env: Record<string, Record<string, string>> = {
    sidecar: { IATP_AGENT_URL: agent.url },
    "compose-agent": {
      IATP_COMPOSE_AGENT_AGENT_ID: "fuzz-compose",
      IATP_COMPOSE_AGENT_AGENT_TOKEN: KEY,
      AGENT_SCOPES: "docker:*",
      IATP_COMPOSE_AGENT_DEPLOYMENT_HASH: "dep-fuzz",
    },
  };
  const started: Target[] = [];
  const start = async (name: string, args: string[]) => {
    const child = await startIatpService([...args, ...extraArgs], {
      env: { IATP_DATA_DIR: dir.path, ...env[name] },
    });
    const port = Number(new URL(child.url).port);
    started.push({ name, url: child.url, port, child, ...ROUTES[name] });
  };
  try {
    await start("relay", ["relay", "--port", "0"]);
    const relayUrl = started[0].url;
    const rest = commands(dir.path, relayUrl, await writeAgentConfigs(dir.path, relayUrl));
    await Promise.all(Object.entries(rest).map(([name, args]) => start(name, args)));
  } catch (err) {
    await Promise.allSettled(started.map((t) => t.child.stop("SIGKILL")));
    await agent.close();
    await dir.remove();
    throw err;
  }
  return {
    targets: started,
    stop: async () => {
      await Promise.allSettled(started.map((t) => t.child.stop()));
      await agent.close();
      await dir.remove();
    },
  };
}

/** Log problems: error lines, stack traces, uncaught errors printed by the runtime. */
export function logProblems(child: ChildService): string[] {
  const out: string[] = [];
  for (const line of `${child.stdout()}\n${child.stderr()}`.split("\n")) {
    if (line.includes('"stack"') || /^\s+at /.test(line) || /Uncaught|panicked/.test(line)) {
      out.push(line.slice(0, 400));
    }
  }
  return out;
}
