/**
 * Real nats-server processes for tests: one JetStream server, or a three-node JetStream cluster,
 * on loopback ports with their own store directories, stopped (and their directories removed)
 * by the test that started them. Where the binary is missing, `natsMissing` says so and the
 * tests that need it are registered with `ignore` (counted as ignored, never passed).
 * @module
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { freePort, waitFor } from "../helpers.ts";

/** Why nats-server cannot run here (undefined when it can). */
export const natsMissing: string | undefined = (() => {
  try {
    const out = new Deno.Command("nats-server", { args: ["--version"], stdout: "null" })
      .outputSync();
    return out.success ? undefined : "nats-server --version failed";
  } catch {
    return "nats-server is not installed (apt install nats-server)";
  }
})();

/** One running nats-server. */
export interface NatsNode {
  name: string;
  port: number;
  url: string;
  /** The running process (a new one after `restart`). */
  readonly process: Deno.ChildProcess;
  /** Sends SIGKILL and waits for the exit. */
  kill(): Promise<void>;
  /** Starts the node again on its port and store directory (after `kill`). */
  restart(): Promise<void>;
}

/** A server or cluster, with a client for the test's own checks. */
export interface NatsFixture {
  nodes: NatsNode[];
  /** `nats://` URL list of every node. */
  url: string;
  /** Connects a client (closed by `stop`). */
  manager(): Promise<JetStreamManager>;
  /** Stops every node and removes the store directories. */
  stop(): Promise<void>;
}

function spawnNode(args: string[]): Deno.ChildProcess {
  return new Deno.Command("nats-server", {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

/** True once `port` on loopback accepts a connection. */
async function accepts(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  } catch {
    return false;
  }
}

function startNode(args: string[], name: string, port: number): NatsNode {
  let process = spawnNode(args);
  let killed: Promise<void> | undefined;
  return {
    name,
    port,
    url: `nats://127.0.0.1:${port}`,
    get process() {
      return process;
    },
    kill: () =>
      killed ??= (async () => {
        try {
          process.kill("SIGKILL");
        } catch { /* gone */ }
        await process.status;
      })(),
    async restart() {
      await killed;
      process = spawnNode(args);
      killed = undefined;
      await waitFor(() => accepts(port), 15_000, `nats-server ${name} to listen again`);
    },
  };
}

/** Client credentials the servers require (none by default). */
export interface NatsAuth {
  user: string;
  pass: string;
}

/** Starts one JetStream server, or a cluster of `size` (3) nodes, and waits until it serves. */
export async function startNats(size = 1, auth?: NatsAuth): Promise<NatsFixture> {
  const dir = await Deno.makeTempDir({ prefix: "iatp-nats-" });
  const ports = Array.from({ length: size }, () => freePort());
  const routes = Array.from({ length: size }, () => freePort());
  const nodes = ports.map((port, i) => {
    const name = `n${i + 1}`;
    const args = ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", `${dir}/${name}`];
    args.push("-n", name);
    if (auth) args.push("--user", auth.user, "--pass", auth.pass);
    if (size > 1) {
      args.push("--cluster_name", "iatp-test", "--cluster", `nats://127.0.0.1:${routes[i]}`);
      const peers = routes.filter((_, j) => j !== i).map((r) => `nats://127.0.0.1:${r}`);
      args.push("--routes", peers.join(","));
    }
    return startNode(args, name, port);
  });
  const url = nodes.map((n) => n.url).join(",");
  const clients: NatsConnection[] = [];
  const fixture: NatsFixture = {
    nodes,
    url,
    async manager() {
      const nc = await connect({
        servers: nodes.map((n) => n.url),
        maxReconnectAttempts: -1,
        ...(auth ? { user: auth.user, pass: auth.pass } : {}),
      });
      clients.push(nc);
      return await jetstreamManager(nc, { timeout: 5_000 });
    },
    async stop() {
      await Promise.all(clients.map((c) => c.close().catch(() => {})));
      await Promise.all(nodes.map((n) => n.kill()));
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
  try {
    const jsm = await waitForManager(fixture);
    // A cluster serves JetStream once it elected a meta leader, and can place a stream on
    // every node once all of them joined: a throwaway stream with one copy per node proves it.
    await waitFor(
      async () => {
        try {
          await jsm.getAccountInfo();
          if (size === 1) return true;
          await jsm.streams.add({
            name: "FIXTURE_READY",
            subjects: ["fixture.ready"],
            num_replicas: size,
          });
          await jsm.streams.delete("FIXTURE_READY");
          return true;
        } catch {
          return false;
        }
      },
      30_000,
      "JetStream to answer on every node",
    );
  } catch (err) {
    await fixture.stop();
    throw err;
  }
  return fixture;
}

async function waitForManager(f: NatsFixture): Promise<JetStreamManager> {
  let jsm: JetStreamManager | undefined;
  await waitFor(
    async () => {
      try {
        jsm = await f.manager();
        return true;
      } catch {
        return false;
      }
    },
    15_000,
    "nats-server to accept connections",
  );
  return jsm!;
}

/** One JetStream server started from a config file, restartable with other settings. */
export interface ConfiguredNats {
  url: string;
  /** Stops the server (SIGKILL) and starts it again on its port and store with `settings`. */
  restart(settings: string): Promise<void>;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
}

/**
 * Starts one nats-server with JetStream on a loopback port from a config file holding
 * `settings` (nats-server config lines, e.g. `max_payload: 65536`) besides its port and store;
 * `{store}` in them is the store directory.
 */
export async function startConfiguredNats(settings: string): Promise<ConfiguredNats> {
  const dir = await Deno.makeTempDir({ prefix: "iatp-nats-conf-" });
  const port = freePort();
  let process: Deno.ChildProcess | undefined;
  const spawn = async (more: string) => {
    const conf = `${dir}/server.conf`;
    await Deno.writeTextFile(
      conf,
      `listen: 127.0.0.1:${port}\n${more.replaceAll("{store}", `${dir}/js`)}\n` +
        (more.includes("jetstream") ? "" : `jetstream { store_dir: "${dir}/js" }\n`),
    );
    process = spawnNode(["-c", conf]);
    await waitFor(() => accepts(port), 15_000, "nats-server to listen");
  };
  const kill = async () => {
    try {
      process?.kill("SIGKILL");
    } catch { /* gone */ }
    await process?.status;
  };
  try {
    await spawn(settings);
  } catch (err) {
    await kill();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw err;
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    async restart(more) {
      await kill();
      await spawn(more);
    },
    async stop() {
      await kill();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
