/**
 * The container operations behind each command type, as pure functions of an Engine client and
 * validated parameters. Log text is scrubbed before it leaves (secrets never reach a caller).
 * @module
 */
import { z } from "zod";
import { REDACTED, scrub, scrubString } from "../../log/mod.ts";
import { CONTAINER_NAME, type ContainerInspect, type DockerEngine } from "../mod.ts";

const NAME_MESSAGE = "must match [A-Za-z0-9_.-], start alphanumeric, at most 63 characters";
/** Schema of a container name parameter. */
const nameParam = z.string().regex(CONTAINER_NAME, NAME_MESSAGE);

/** Largest `tail` a logs command may ask for. */
const MAX_LOG_TAIL = 10_000;

/** Parameters of `logs`. */
export const logsParams = z.object({
  name: nameParam,
  tail: z.number().int().min(1).max(MAX_LOG_TAIL).default(100),
  /** Unix seconds, or an RFC 3339 time. */
  since: z.union([z.number().int().min(0), z.string().datetime({ offset: true })]).optional(),
  /** Which streams to read (Stacker's `streams`). */
  streams: z.array(z.enum(["stdout", "stderr"])).min(1).max(2).default(["stdout", "stderr"]),
  /** Stacker's `redact`: accepted, but secrets are always masked. */
  redact: z.boolean().default(true),
  /** Stacker's opaque `cursor`, echoed back. */
  cursor: z.string().max(256).optional(),
});

/** Parameters of restart / stop. */
export const stopParams = z.object({
  name: nameParam,
  timeout_secs: z.number().int().min(0).max(600).default(10),
});

/** Parameters of start / pause / unpause / inspect. */
export const nameOnly = z.object({ name: nameParam });

/** Parameters of `health`: a container, or the daemon when omitted. */
export const healthParams = z.object({ name: nameParam.optional() });

/** Parameters of `list_containers`. */
export const listParams = z.object({
  all: z.boolean().default(true),
  /** Label filter `key` or `key=value`. */
  label: z.string().regex(/^[A-Za-z0-9_.\/-]{1,128}(=[^\s]{0,256})?$/).optional(),
});

/** The health summary of one container. */
function healthOf(info: ContainerInspect): Record<string, unknown> {
  return {
    name: info.Name.replace(/^\//, ""),
    id: info.Id.slice(0, 12),
    state: info.State.Status,
    running: info.State.Running,
    health: info.State.Health?.Status ?? null,
    exit_code: info.State.ExitCode,
    restart_count: info.RestartCount,
    started_at: info.State.StartedAt,
    finished_at: info.State.FinishedAt,
    oom_killed: info.State.OOMKilled,
  };
}

/** `health`: one container's health, or the daemon's reachability and container counts. */
export async function health(engine: DockerEngine, p: z.infer<typeof healthParams>) {
  if (p.name) return healthOf(await engine.inspect(p.name));
  const list = await engine.listContainers({ all: true });
  const count = (s: string) => list.filter((c) => c.State === s).length;
  return {
    docker: "ok",
    api_version: await engine.apiVersion(),
    containers: { total: list.length, running: count("running"), exited: count("exited") },
  };
}

/** The first and last line of a PEM private key. */
const KEY_BEGIN = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;
const KEY_END = /-----END [A-Z ]*PRIVATE KEY-----/;

/** One log line as Stacker reads it. */
interface LogLine {
  ts: string;
  stream: "stdout" | "stderr";
  message: string;
  /** True when secrets were masked in this line. */
  redacted: boolean;
}

/** `logs`: scrubbed recent output, one entry per line with its time and stream. */
export async function logs(engine: DockerEngine, p: z.infer<typeof logsParams>, maxBytes: number) {
  const since = typeof p.since === "string" ? Math.floor(Date.parse(p.since) / 1000) : p.since;
  const { entries, truncated } = await engine.logs(p.name, {
    tail: p.tail,
    since,
    maxBytes,
    streams: p.streams,
    timestamps: true,
  });
  // A key printed over several lines is several entries: from its BEGIN line to its END line,
  // on the same stream, every line is masked (scrubString sees one line at a time).
  const inKey = new Set<string>();
  const lines: LogLine[] = entries.map((e) => {
    const m = /^(\d{4}-\d\d-\d\dT[\d:.]+Z) ?(.*)$/s.exec(e.line);
    const raw = m ? m[2] : e.line;
    let message = scrubString(raw);
    if (inKey.has(e.stream)) {
      message = REDACTED;
      if (KEY_END.test(raw)) inKey.delete(e.stream);
    } else if (KEY_BEGIN.test(raw) && !KEY_END.test(raw.slice(raw.search(KEY_BEGIN)))) {
      inKey.add(e.stream);
    }
    const ts = m ? new Date(Date.parse(m[1])).toISOString() : new Date().toISOString();
    return { ts, stream: e.stream, message, redacted: message !== raw };
  });
  return { name: p.name, lines, truncated, ...(p.cursor ? { cursor: p.cursor } : {}) };
}

/** `list_containers`: one row per container, health parsed from the status text. */
export async function listContainers(engine: DockerEngine, p: z.infer<typeof listParams>) {
  const list = await engine.listContainers({
    all: p.all,
    ...(p.label ? { filters: { label: [p.label] } } : {}),
  });
  return list.map((c) => ({
    id: c.Id.slice(0, 12),
    name: (c.Names[0] ?? "").replace(/^\//, ""),
    image: c.Image,
    state: c.State,
    status: c.Status,
    health: /\((healthy|unhealthy|health: starting)\)/.exec(c.Status)?.[1]?.replace(
      "health: ",
      "",
    ) ?? null,
    project: c.Labels["com.docker.compose.project"] ?? null,
    service: c.Labels["com.docker.compose.service"] ?? null,
  }));
}

/**
 * `inspect`: a safe subset (no environment: it often holds secrets; labels masked as a log line
 * is: a label under a secret-looking key, or holding a secret's shape, shows `[REDACTED]`).
 */
export async function inspect(engine: DockerEngine, p: z.infer<typeof nameOnly>) {
  const info = await engine.inspect(p.name);
  return {
    ...healthOf(info),
    image: info.Config.Image ?? null,
    created: info.Created,
    labels: scrub(info.Config.Labels ?? {}),
    error: scrubString(info.State.Error ?? ""),
  };
}

/** restart / stop / start / pause / unpause, then the resulting state. */
export async function lifecycle(
  engine: DockerEngine,
  type: "restart" | "stop" | "start" | "pause" | "unpause",
  p: { name: string; timeout_secs?: number },
) {
  switch (type) {
    case "restart":
      await engine.restart(p.name, p.timeout_secs);
      break;
    case "stop":
      await engine.stop(p.name, p.timeout_secs);
      break;
    case "start":
      await engine.start(p.name);
      break;
    case "pause":
      await engine.pause(p.name);
      break;
    case "unpause":
      await engine.unpause(p.name);
      break;
  }
  return healthOf(await engine.inspect(p.name));
}
