/**
 * An open relay (no tokens) in a temporary folder with the fixture plugins, subscribed to the
 * action agents' results, and the config of an action agent taking its tasks: for the action
 * agent's end-to-end tests.
 * @module
 */
import { join } from "node:path";
import { RelayClient, type RelayEvent } from "../../core/relay/mod.ts";
import { writeConfig, writeFixturePlugins } from "../core/agents/fixtures.ts";
import { startIatpService, tempDir } from "../helpers.ts";

/** An open relay (no tokens), the fixture plugins, and the agent's results as they come. */
export interface OpenRelay {
  env: Record<string, string>;
  /** The agent's base folder. */
  base: string;
  client: RelayClient;
  results: RelayEvent[];
  /** Writes the action agent's config on this relay; the path. */
  config(acceptAnonymous: boolean): Promise<string>;
  close(): Promise<void>;
}

/**
 * Starts an {@linkcode OpenRelay} in a temporary folder named with `prefix`, for the action agent
 * `agentId`.
 */
export async function startOpenRelay(prefix: string, agentId: string): Promise<OpenRelay> {
  const dir = await tempDir(prefix);
  await writeFixturePlugins(join(dir.path, "plugins"));
  const env = { IATP_DATA_DIR: dir.path };
  const relay = await startIatpService(["relay", "--port", "0"], { env });
  const client = new RelayClient({ url: relay.url });
  const results: RelayEvent[] = [];
  const sub = client.subscribe(["action.results"], (e) => {
    results.push(e);
  }, { since: "0" });
  const base = join(dir.path, "agent");
  const config = (acceptAnonymous: boolean) =>
    writeConfig(dir.path, "action.yaml", {
      agent: { id: agentId, base_folder: base },
      plugins: { directory: join(dir.path, "plugins") },
      health: { port: 0 },
      relay: { url: relay.url, accept_anonymous_tasks: acceptAnonymous },
    });
  const close = async () => {
    sub.close();
    await client.close();
    await relay.stop("SIGTERM");
    await dir.remove();
  };
  return { env, base, client, results, config, close };
}
