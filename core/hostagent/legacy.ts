/**
 * Legacy mode (`COMPOSE_AGENT_ENABLED=false` or `--legacy`): the status agent runs Docker
 * commands itself on the socket, as upstream did before the compose-agent existed. The Docker
 * Engine client (core/docker) and the executor load here, in that mode only; the socket is
 * otherwise never opened by this agent, whose start imports the command wire alone
 * (core/docker/wire).
 * @module
 */
import type { Logger } from "../log/mod.ts";
import type { DockerTarget } from "./router.ts";
import { lateImport } from "../config/mod.ts";

/** The Docker Engine client's module, loaded in legacy mode only. */
type Docker = typeof import("../docker/mod.ts");
/** The executor module, loaded in legacy mode only. */
type Executor = typeof import("../docker/executor/mod.ts");

/**
 * The local executor on the configured socket (its modules load here, in that mode only).
 * @throws {Error} when the Engine client or the executor cannot be loaded (the start fails)
 */
export async function legacyTarget(
  opts: { socket: string; projectsRoot: string; workDir: string },
  log: Logger,
): Promise<{ target: DockerTarget; close: () => void }> {
  const docker = await lateImport<Docker>("../docker/mod.ts", import.meta.url);
  const { ComposeRunner, DockerExecutor } = await lateImport<Executor>(
    "../docker/executor/mod.ts",
    import.meta.url,
  );
  const engine = new docker.DockerEngine({ socket: opts.socket });
  const executor = new DockerExecutor({
    engine,
    compose: new ComposeRunner({ socket: opts.socket, engine }),
    executedBy: "status_panel",
    paths: { projectsRoot: opts.projectsRoot, workDir: opts.workDir },
    maxLogBytes: docker.DEFAULT_MAX_LOG_BYTES,
    maxComposeFileBytes: docker.DEFAULT_MAX_COMPOSE_FILE_BYTES,
    log,
  });
  return { target: { kind: "legacy", executor }, close: () => engine.close() };
}
