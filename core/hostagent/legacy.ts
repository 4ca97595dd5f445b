/**
 * Legacy mode (`COMPOSE_AGENT_ENABLED=false` or `--legacy`): the status agent runs Docker
 * commands itself on the socket, as upstream did before the compose-agent existed. Only loaded
 * in that mode; the socket is otherwise never opened by this agent.
 * @module
 */
import {
  DEFAULT_MAX_COMPOSE_FILE_BYTES,
  DEFAULT_MAX_LOG_BYTES,
  DockerEngine,
} from "../docker/mod.ts";
import type { Logger } from "../log/mod.ts";
import type { DockerTarget } from "./router.ts";
import { lateImport } from "../config/mod.ts";

/** The executor module, loaded in legacy mode only. */
type Executor = typeof import("../docker/executor/mod.ts");

/** The local executor on the configured socket (its module loads here, in that mode only). */
export async function legacyTarget(
  opts: { socket: string; projectsRoot: string; workDir: string },
  log: Logger,
): Promise<{ target: DockerTarget; close: () => void }> {
  const { ComposeRunner, DockerExecutor } = await lateImport<Executor>(
    "../docker/executor/mod.ts",
    import.meta.url,
  );
  const engine = new DockerEngine({ socket: opts.socket });
  const executor = new DockerExecutor({
    engine,
    compose: new ComposeRunner({ socket: opts.socket, engine }),
    executedBy: "status_panel",
    paths: { projectsRoot: opts.projectsRoot, workDir: opts.workDir },
    maxLogBytes: DEFAULT_MAX_LOG_BYTES,
    maxComposeFileBytes: DEFAULT_MAX_COMPOSE_FILE_BYTES,
    log,
  });
  return { target: { kind: "legacy", executor }, close: () => engine.close() };
}
