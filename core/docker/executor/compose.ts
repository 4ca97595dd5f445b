/**
 * Docker Compose runner: uses the `docker compose` plugin when present, else `docker-compose`
 * v1, always against the configured socket (DOCKER_HOST), with a deadline. Health gating is
 * done here through the Engine API (v1 has no `--wait`): after `up -d` every container of the
 * project must be running and, where it has a HEALTHCHECK, healthy.
 * @module
 */
import { sleep } from "../../async/mod.ts";
import { type DockerEngine, DockerError } from "../mod.ts";
import { type ProcessResult, runProcess } from "./process.ts";

/** Which compose implementation runs. */
export interface ComposeFlavor {
  kind: "plugin" | "v1";
  /** Command and leading args, e.g. `["docker", "compose"]`. */
  argv: [string, ...string[]];
  version: string;
}

/** Default poll interval while waiting for health. */
const DEFAULT_HEALTH_POLL_MS = 1000;
/** Compose project label set on every container. */
const PROJECT_LABEL = "com.docker.compose.project";
/** Compose service label. */
const SERVICE_LABEL = "com.docker.compose.service";
/** Compose's label of the folder a container's project was brought up from. */
const WORKING_DIR_LABEL = "com.docker.compose.project.working_dir";

/** Options for {@linkcode ComposeRunner}. */
interface ComposeRunnerOptions {
  socket: string;
  engine: DockerEngine;
  /** Force a flavor ("auto" probes the plugin first). */
  prefer?: "auto" | "plugin" | "v1";
  maxOutputBytes?: number;
}

/** One container's state after a deploy. */
export interface ServiceState {
  service: string;
  container: string;
  state: string;
  health: string | null;
}

/** Result of {@linkcode ComposeRunner.waitHealthy}. */
export interface HealthGate {
  ok: boolean;
  timedOut: boolean;
  services: ServiceState[];
  reason?: string;
}

/** Runs compose for one daemon. */
export class ComposeRunner {
  #flavor: Promise<ComposeFlavor | undefined> | undefined;

  constructor(private readonly opts: ComposeRunnerOptions) {}

  /** The compose implementation found (cached), or undefined when neither exists. */
  flavor(): Promise<ComposeFlavor | undefined> {
    return this.#flavor ??= this.#detect();
  }

  async #detect(): Promise<ComposeFlavor | undefined> {
    const prefer = this.opts.prefer ?? "auto";
    const candidates: ComposeFlavor[] = [];
    if (prefer !== "v1") {
      candidates.push({ kind: "plugin", argv: ["docker", "compose"], version: "" });
    }
    if (prefer !== "plugin") candidates.push({ kind: "v1", argv: ["docker-compose"], version: "" });
    for (const c of candidates) {
      const r = await this.#run(c, ["version", "--short"], { timeoutMs: 20_000 });
      if (r.code === 0) return { ...c, version: r.stdout.trim().split("\n")[0] };
    }
    return undefined;
  }

  #run(
    flavor: ComposeFlavor,
    args: string[],
    o: { cwd?: string; timeoutMs: number; stdin?: string },
  ) {
    const [cmd, ...lead] = flavor.argv;
    return runProcess(cmd, [...lead, ...args], {
      cwd: o.cwd,
      timeoutMs: o.timeoutMs,
      stdin: o.stdin,
      maxOutputBytes: this.opts.maxOutputBytes,
      // Only the socket and the program search path are passed on: the plugin never reads a
      // user's docker context, and a compose file's `${VAR}` or `environment: [VAR]` never
      // reads the agent's own environment (its HMAC key, Vault and relay tokens).
      env: {
        PATH: searchPath(),
        DOCKER_HOST: `unix://${this.opts.socket}`,
        COMPOSE_INTERACTIVE_NO_CLI: "1",
        // Set here, a project folder's `.env` cannot turn them on: they read `C:/x:/y`, a named
        // volume for the deploy check, as the host path `/c/x`.
        COMPOSE_FORCE_WINDOWS_HOST: "0",
        COMPOSE_CONVERT_WINDOWS_PATHS: "0",
      },
    });
  }

  async #compose(
    args: string[],
    cwd: string,
    timeoutMs: number,
    stdin?: string,
  ): Promise<ProcessResult> {
    const flavor = await this.flavor();
    if (!flavor) {
      return {
        code: -1,
        stdout: "",
        stderr: "",
        timedOut: false,
        spawnError: "neither `docker compose` nor `docker-compose` is available",
      };
    }
    return await this.#run(flavor, args, { cwd, timeoutMs, stdin });
  }

  /**
   * `compose -p project -f file up -d --remove-orphans` in the project directory. With `text`,
   * compose reads that (`-f -`) instead of the file: the text the deploy check read, not what a
   * project's container (one that mounts the folder writable) may have put in the file since.
   */
  up(
    project: string,
    dir: string,
    file: string,
    timeoutMs: number,
    text?: string,
  ): Promise<ProcessResult> {
    return this.#compose(
      ["-p", project, "-f", text === undefined ? file : "-", "up", "-d", "--remove-orphans"],
      dir,
      timeoutMs,
      text,
    );
  }

  /**
   * `compose -p project -f file down` with a stop grace of `stopSecs`; with `opts.text`, compose
   * reads that (`-f -`) instead of the file.
   */
  down(
    project: string,
    dir: string,
    file: string,
    opts: { stopSecs: number; volumes: boolean; timeoutMs: number; text?: string },
  ): Promise<ProcessResult> {
    const args = [
      "-p",
      project,
      "-f",
      opts.text === undefined ? file : "-",
      "down",
      "--remove-orphans",
      "-t",
      String(opts.stopSecs),
    ];
    if (opts.volumes) args.push("-v");
    return this.#compose(args, dir, opts.timeoutMs, opts.text);
  }

  /**
   * How many containers of `project` (running or not) were brought up from a folder other than
   * `dirs` (the project folder's path as named and as real), or carry no folder label (not made
   * by compose from a folder).
   */
  async foreignContainers(project: string, dirs: readonly string[]): Promise<number> {
    const list = await this.opts.engine.listContainers({
      all: true,
      filters: { label: [`${PROJECT_LABEL}=${project}`] },
    });
    return list.filter((c) => !dirs.includes(c.Labels[WORKING_DIR_LABEL] ?? "")).length;
  }

  /**
   * Of the networks (volumes) named `names`, those the daemon has that compose did not make for
   * `project` (another project's, or made by hand), with their project (undefined when none).
   */
  async foreign(
    kind: "networks" | "volumes",
    project: string,
    names: readonly string[],
  ): Promise<Array<{ name: string; project?: string }>> {
    if (names.length === 0) return [];
    const filters = { name: [...names] };
    const list = kind === "networks"
      ? await this.opts.engine.listNetworks({ filters })
      : await this.opts.engine.listVolumes({ filters });
    return list
      .filter((n) => names.includes(n.Name) && n.Labels?.[PROJECT_LABEL] !== project)
      .map((n) => ({ name: n.Name, project: n.Labels?.[PROJECT_LABEL] }));
  }

  /**
   * The project's containers and their states. A container listed but gone by the time it is
   * inspected (removed, or replaced by compose meanwhile) is left out.
   */
  async services(project: string): Promise<ServiceState[]> {
    return (await this.#snapshot(project)).services;
  }

  /** {@linkcode services}, and how many listed containers were gone when inspected. */
  async #snapshot(project: string): Promise<{ services: ServiceState[]; gone: number }> {
    const list = await this.opts.engine.listContainers({
      all: true,
      filters: { label: [`${PROJECT_LABEL}=${project}`] },
    });
    const out: ServiceState[] = [];
    let gone = 0;
    for (const c of list) {
      // The list and the inspect are two calls: compose (or anyone) may remove a container in
      // between, and the daemon then answers 404 for it.
      const info = await this.opts.engine.inspect(c.Id).catch((err) => {
        if (err instanceof DockerError && err.status === 404) return undefined;
        throw err;
      });
      if (!info) {
        gone++;
        continue;
      }
      out.push({
        service: c.Labels[SERVICE_LABEL] ?? "",
        container: (c.Names[0] ?? c.Id).replace(/^\//, ""),
        state: info.State.Status,
        health: info.State.Health?.Status ?? null,
      });
    }
    return { services: out.sort((a, b) => a.service.localeCompare(b.service)), gone };
  }

  /** Waits until every container of `project` runs and is healthy where it has a check. */
  async waitHealthy(
    project: string,
    timeoutMs: number,
    pollMs = DEFAULT_HEALTH_POLL_MS,
  ): Promise<HealthGate> {
    const until = Date.now() + timeoutMs;
    let services: ServiceState[] = [];
    while (true) {
      const snap = await this.#snapshot(project);
      services = snap.services;
      const bad = services.find((s) =>
        s.state === "exited" || s.state === "dead" ||
        s.health === "unhealthy"
      );
      if (bad) {
        const why = bad.health === "unhealthy" ? "is unhealthy" : `is ${bad.state}`;
        return { ok: false, timedOut: false, services, reason: `${bad.container} ${why}` };
      }
      // A container that went between the list and its inspect says nothing about the project:
      // neither "no containers" nor "all healthy" is concluded from that look; the next one tells.
      if (snap.gone === 0) {
        if (services.length === 0) {
          return { ok: false, timedOut: false, services, reason: "project has no containers" };
        }
        if (
          services.every((s) => s.state === "running" && (s.health ?? "healthy") === "healthy")
        ) {
          return { ok: true, timedOut: false, services };
        }
      }
      if (Date.now() >= until) {
        return { ok: false, timedOut: true, services, reason: "health gate timed out" };
      }
      await sleep(pollMs);
    }
  }
}

/** Where the compose programs are looked for: this process's PATH where it may read it. */
function searchPath(): string {
  const fallback = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  // Asked first, so that an ungranted PATH (--allow-env lists the service's own) never prompts.
  if (Deno.permissions.querySync({ name: "env", variable: "PATH" }).state !== "granted") {
    return fallback;
  }
  return Deno.env.get("PATH") || fallback;
}
