/**
 * `deploy_app` and `remove_app`: compose up / down of a project directory (under the configured
 * projects root) or of an inline compose file (written under the agent's work dir), with a
 * health gate after `up`.
 * @module
 */
import { basename, dirname, isAbsolute, relative, resolve } from "node:path";
import { z } from "zod";
import { HttpError } from "../../errors/mod.ts";
import { scrubString } from "../../log/mod.ts";
import type { CheckedFile, DeployPolicy } from "./deploy_policy.ts";
import { FileTooLargeError, readTextWithin, ReadTimeoutError } from "../../config/mod.ts";
import { PROJECT_NAME } from "../mod.ts";
import type { ComposeRunner } from "./compose.ts";
import type { ProcessResult } from "./process.ts";

/** File names looked for in a project directory, in order. */
const COMPOSE_FILE_NAMES = [
  "compose.yaml",
  "compose.yml",
  "docker-compose.yml",
  "docker-compose.yaml",
];
/** File name used for inline compose files. */
const INLINE_FILE = "docker-compose.yml";
/** Where an inline deploy keeps the working copy it replaces until it has succeeded. */
const PREVIOUS_FILE = ".docker-compose.yml.previous";

/**
 * Projects with a deploy_app or remove_app running in this process: a second one for the same
 * project fails at once instead of writing or removing the working copy under the first.
 */
const busy = new Set<string>();

const projectParam = z.string().regex(
  PROJECT_NAME,
  "must match [a-z0-9_-], start alphanumeric, at most 63 characters",
);
/** A relative path without `..` or hidden segments. */
const relDir = z.string().max(512).regex(
  /^[A-Za-z0-9_-][A-Za-z0-9_.-]*(\/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$/,
  "must be a relative path under the projects root, without '..' or hidden segments",
);

/** Parameters of `deploy_app`. */
export function deployParams(maxComposeBytes: number) {
  return z.object({
    project: projectParam,
    project_dir: relDir.optional(),
    compose_file: z.string().min(1).max(maxComposeBytes).optional(),
    wait: z.boolean().default(true),
    wait_timeout_secs: z.number().int().min(1).max(3600).optional(),
  }).refine((p) => (p.project_dir === undefined) !== (p.compose_file === undefined), {
    message: "give exactly one of project_dir or compose_file",
    path: ["project_dir"],
  });
}

/** Parameters of `remove_app`. */
export const removeParams = z.object({
  project: projectParam,
  project_dir: relDir.optional(),
  remove_volumes: z.boolean().default(false),
  stop_timeout_secs: z.number().int().min(0).max(600).default(10),
});

/** Where compose files live. */
export interface AppPaths {
  /** Root that `project_dir` parameters resolve under. */
  projectsRoot: string;
  /** Where inline compose files are written, one folder per project. */
  workDir: string;
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then((s) => s.isFile, () => false);
}

/**
 * `path` (below `realRoot`, a root's real path) as the kernel reaches it, its symlinks followed;
 * undefined when there is nothing there. A 400 naming `field` (the parameter that named the
 * folder) when the links lead out of the root (a link a project's container made in its
 * bind-mounted folder could point anywhere on the host).
 */
async function realInside(
  realRoot: string,
  path: string,
  what: string,
  setting: string,
  field: string,
): Promise<string | undefined> {
  let real: string;
  try {
    real = await Deno.realPath(path);
  } catch {
    return undefined;
  }
  const rel = relative(realRoot, real);
  if (rel.startsWith("..") || isAbsolute(rel)) {
    throw new HttpError(400, `${what} leads outside ${setting} through a symlink`, { field });
  }
  return real;
}

/**
 * Finds the compose file of a project: explicit dir, else a previous inline deploy. The folder
 * found is its real path (symlinks followed), inside the root it was named under, and so is the
 * compose file in it: neither is read or run from elsewhere on the host.
 */
async function locate(
  paths: AppPaths,
  project: string,
  projectDir: string | undefined,
): Promise<{ dir: string; file: string; workingCopy: boolean }> {
  const dirs: Array<[string, string, string]> = projectDir
    ? [[paths.projectsRoot, `${paths.projectsRoot}/${projectDir}`, "projects_root"]]
    : [
      [paths.workDir, `${paths.workDir}/${project}`, "work_dir"],
      [paths.projectsRoot, `${paths.projectsRoot}/${project}`, "projects_root"],
    ];
  // The parameter that named the folder: the project's own folder when no project_dir is given.
  const field = projectDir ? "parameters.project_dir" : "parameters.project";
  for (const [root, named, setting] of dirs) {
    const realRoot = await Deno.realPath(root).catch(() => root);
    const dir = await realInside(realRoot, named, field, setting, field);
    if (dir === undefined) continue;
    for (const name of COMPOSE_FILE_NAMES) {
      const file = `${dir}/${name}`;
      if (await exists(file)) {
        await realInside(realRoot, file, `the project's ${name}`, setting, field);
        return { dir, file: name, workingCopy: root === paths.workDir };
      }
    }
  }
  throw new HttpError(400, `no compose file found for project ${project}`, {
    field: "parameters.project_dir",
  });
}

/**
 * A project's compose file, bounded, read off the service's thread within
 * `IATP_FILE_READ_TIMEOUT` (a file swapped for a pipe with no writer after the look at it holds
 * one runtime thread, never every request); a 400 naming the parameter when it cannot be read.
 */
async function readCompose(file: string, maxBytes: number): Promise<string> {
  try {
    return await readTextWithin(file, { limit: maxBytes, offThread: true });
  } catch (err) {
    const why = err instanceof FileTooLargeError
      ? `larger than ${maxBytes} bytes (max_compose_file_bytes)`
      : err instanceof ReadTimeoutError
      ? `not read: ${err.message}`
      : "unreadable";
    throw new HttpError(400, `the project's compose file is ${why}`, {
      field: "parameters.project_dir",
    }, { cause: err });
  }
}

function output(r: ProcessResult): string {
  return scrubString([r.stdout, r.stderr].filter((s) => s.trim() !== "").join("\n")).trim();
}

/** Thrown when compose exits non-zero or times out; carries the scrubbed output. */
export class ComposeFailed extends Error {
  override name = "ComposeFailed";
  constructor(message: string, readonly timedOut: boolean, readonly detail: unknown) {
    super(message);
  }
}

function check(step: string, r: ProcessResult): void {
  if (r.spawnError) throw new ComposeFailed(`${step}: ${r.spawnError}`, false, null);
  if (r.timedOut) throw new ComposeFailed(`${step} timed out`, true, { output: output(r) });
  if (r.code !== 0) {
    throw new ComposeFailed(`${step} exited with code ${r.code}`, false, {
      exit_code: r.code,
      output: output(r),
    });
  }
}

/** How {@linkcode prepareDeploy} checks a compose file before it runs. */
export interface DeployCheck {
  policy: DeployPolicy;
  /** Largest compose file read from a project folder. */
  maxBytes: number;
}

/** What a deploy runs: a project folder's compose file, or an inline file still to be written. */
export interface DeploySource {
  dir: string;
  file: string;
  /** The inline compose file, written to `dir/file` when the deploy runs. */
  inline?: string;
  /**
   * The text the deploy check read, which compose is handed (not the file, which a container
   * of the project mounting the folder writable can rewrite after the check).
   */
  text: string;
  /**
   * The networks and volumes compose names after the project (`<project>_<key>`) that must not
   * already be another's; those `deploy_allow.networks` or `.volumes` list left out.
   */
  projectNamed: ProjectNamed[];
}

/** A network or volume of the file that compose names after the project. */
interface ProjectNamed {
  kind: "networks" | "volumes";
  /** Its key in the file. */
  key: string;
  /** `<project>_<key>`. */
  name: string;
}

/** The networks and volumes of a checked file compose names after `project`, less those granted. */
function projectNamed(policy: DeployPolicy, project: string, f: CheckedFile): ProjectNamed[] {
  return [
    ...f.projectNetworks.map((key) => ({ kind: "networks" as const, key })),
    ...f.projectVolumes.map((key) => ({ kind: "volumes" as const, key })),
  ].map((n) => ({ ...n, name: `${project}_${n.key}` }))
    .filter((n) => !policy.grants(n.kind, n.name));
}

/**
 * Resolves the deploy source (validates paths before anything runs) and checks its compose file
 * against the operator's allow-list. Nothing is written: an inline file is written by the deploy
 * itself ({@linkcode deployApp}), so a refused one leaves nothing behind.
 * @throws {HttpError} 400 for a missing, unreadable or oversized file, 403 for what the allow-list
 * refuses (naming the field).
 */
export async function prepareDeploy(
  paths: AppPaths,
  p: z.infer<ReturnType<typeof deployParams>>,
  check: DeployCheck,
): Promise<DeploySource> {
  const named = (f: CheckedFile) => projectNamed(check.policy, p.project, f);
  if (p.compose_file === undefined) {
    const found = await locate(paths, p.project, p.project_dir);
    const text = await readCompose(`${found.dir}/${found.file}`, check.maxBytes);
    return {
      dir: found.dir,
      file: found.file,
      text,
      projectNamed: named(check.policy.check(text, found.dir)),
    };
  }
  const dir = `${paths.workDir}/${p.project}`;
  return {
    dir,
    file: INLINE_FILE,
    inline: p.compose_file,
    text: p.compose_file,
    projectNamed: named(check.policy.check(p.compose_file, dir)),
  };
}

/**
 * Refuses a deploy whose project-named networks or volumes exist and are not the project's:
 * compose uses an existing one of the name it makes, and `a` + `b_default` is project `a_b`'s
 * default network, `a` + `b_data` its volume `data` (or one made by hand).
 * @throws {HttpError} 403 naming the key and `deploy_allow.networks` or `.volumes`
 */
async function refuseTaken(
  compose: ComposeRunner,
  project: string,
  named: readonly ProjectNamed[],
): Promise<void> {
  for (const kind of ["networks", "volumes"] as const) {
    const mine = named.filter((n) => n.kind === kind);
    const [taken] = await compose.foreign(kind, project, mine.map((n) => n.name));
    if (taken === undefined) continue;
    const key = mine.find((n) => n.name === taken.name)?.key ?? "default";
    const whose = taken.project === undefined
      ? "not made by compose"
      : `project ${taken.project}'s`;
    const noun = kind === "networks" ? "network" : "volume";
    throw new HttpError(
      403,
      `compose file refused: ${kind}.${key}: ${noun} ${JSON.stringify(taken.name)} exists and ` +
        `is ${whose}: compose would use it (not allowed by deploy_allow.${kind})`,
      { field: `parameters.compose_file: ${kind}.${key}`, setting: `deploy_allow.${kind}` },
    );
  }
}

/**
 * Refuses to bring `project` up or down from `dir` while the daemon holds containers of a project
 * of that name brought up from another folder (or not by compose): under the other project's name
 * a caller's file would take over its named volumes and networks, and compose's
 * `--remove-orphans` would remove its containers (the mesh's own, say).
 * @throws {HttpError} 403 naming `parameters.project`
 */
async function refuseForeign(compose: ComposeRunner, project: string, dir: string): Promise<void> {
  const named = resolve(dir);
  // Compose records the folder as its working directory: the real path (links followed).
  const real = await Deno.realPath(named).catch(() =>
    Deno.realPath(dirname(named)).then((d) => `${d}/${basename(named)}`, () => named)
  );
  const foreign = await compose.foreignContainers(project, [named, real]);
  if (foreign === 0) return;
  throw new HttpError(
    403,
    `project ${project} has ${foreign} container(s) deployed from another folder: ` +
      "deploy_app and remove_app act only on the projects of their own folders",
    { field: "parameters.project" },
  );
}

/** Runs `op` as the only deploy_app/remove_app of `project`; a second one fails at once. */
async function exclusive<T>(project: string, op: () => Promise<T>): Promise<T> {
  if (busy.has(project)) {
    throw new ComposeFailed(
      `project ${project} has a deploy_app or remove_app running`,
      false,
      null,
    );
  }
  busy.add(project);
  try {
    return await op();
  } finally {
    busy.delete(project);
  }
}

/**
 * `deploy_app`: writes an inline file, then up -d and the health gate. A failed inline deploy
 * leaves no working copy of its own behind: the copy of the deploy before it is put back, and
 * without one the folder is removed unless the project has containers (which remove_app needs
 * the file to take down).
 */
export function deployApp(
  compose: ComposeRunner,
  source: DeploySource,
  p: z.infer<ReturnType<typeof deployParams>>,
  timeoutMs: number,
) {
  return exclusive(p.project, async () => {
    await refuseForeign(compose, p.project, source.dir);
    await refuseTaken(compose, p.project, source.projectNamed);
    if (source.inline === undefined) return await upAndGate(compose, source, p, timeoutMs);
    const had = await keepPrevious(source.dir).catch(unwritable);
    let ok = false;
    try {
      await Deno.writeTextFile(`${source.dir}/${source.file}`, source.inline).catch(unwritable);
      const result = await upAndGate(compose, source, p, timeoutMs);
      ok = true;
      return result;
    } finally {
      await settleWorkingCopy(compose, p.project, source, had, ok);
    }
  });
}

/** A working copy that cannot be written (a full or read-only disk): a failed deploy. */
function unwritable(err: unknown): never {
  const why = err instanceof Error ? err.name : "error";
  throw new ComposeFailed(`cannot write the working copy under work_dir (${why})`, false, null);
}

/**
 * Sets the current inline file of `dir` aside (creating the folder when there is none); true when
 * there was one.
 */
async function keepPrevious(dir: string): Promise<boolean> {
  await Deno.mkdir(dir, { recursive: true });
  try {
    await Deno.rename(`${dir}/${INLINE_FILE}`, `${dir}/${PREVIOUS_FILE}`);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/**
 * After an inline deploy: on success the copy set aside is dropped; on failure it is put back,
 * and without one the folder goes unless the project has containers (or they cannot be listed).
 */
async function settleWorkingCopy(
  compose: ComposeRunner,
  project: string,
  source: DeploySource,
  had: boolean,
  ok: boolean,
): Promise<void> {
  const previous = `${source.dir}/${PREVIOUS_FILE}`;
  if (ok) {
    if (had) await Deno.remove(previous).catch(() => {});
    return;
  }
  if (had) {
    await Deno.rename(previous, `${source.dir}/${source.file}`).catch(() => {});
    return;
  }
  const left = await compose.services(project).then((s) => s.length, () => -1);
  if (left === 0) await Deno.remove(source.dir, { recursive: true }).catch(() => {});
}

/** up -d, then (unless `wait` is false) the health gate. */
async function upAndGate(
  compose: ComposeRunner,
  source: DeploySource,
  p: z.infer<ReturnType<typeof deployParams>>,
  timeoutMs: number,
) {
  const started = Date.now();
  const up = await compose.up(p.project, source.dir, source.file, timeoutMs, source.text);
  check("compose up", up);
  if (!p.wait) return { project: p.project, services: await compose.services(p.project) };
  const left = Math.max(
    1000,
    (p.wait_timeout_secs ?? timeoutMs / 1000) * 1000 - (Date.now() - started),
  );
  const gate = await compose.waitHealthy(p.project, left);
  if (!gate.ok) {
    throw new ComposeFailed(`health gate failed: ${gate.reason}`, gate.timedOut, {
      services: gate.services,
    });
  }
  return { project: p.project, services: gate.services, output: output(up) };
}

/**
 * `remove_app`: compose down (and drops an inline file). The networks and volumes of the project's
 * compose file are checked as a deploy's are, and compose handed the text checked: `down` removes
 * the networks the file names and, with `remove_volumes`, its volumes, and a project's container
 * that mounts the folder writable can have rewritten the file to name another project's.
 */
export function removeApp(
  compose: ComposeRunner,
  paths: AppPaths,
  p: z.infer<typeof removeParams>,
  timeoutMs: number,
  check: DeployCheck,
) {
  return exclusive(p.project, () => removeNow(compose, paths, p, timeoutMs, check));
}

async function removeNow(
  compose: ComposeRunner,
  paths: AppPaths,
  p: z.infer<typeof removeParams>,
  timeoutMs: number,
  allow: DeployCheck,
) {
  const source = await locate(paths, p.project, p.project_dir);
  await refuseForeign(compose, p.project, source.dir);
  const text = await readCompose(`${source.dir}/${source.file}`, allow.maxBytes);
  const checked = allow.policy.checkRemoval(text);
  await refuseTaken(compose, p.project, projectNamed(allow.policy, p.project, checked));
  const down = await compose.down(p.project, source.dir, source.file, {
    stopSecs: p.stop_timeout_secs,
    volumes: p.remove_volumes,
    timeoutMs,
    text,
  });
  check("compose down", down);
  if (source.workingCopy) {
    await Deno.remove(source.dir, { recursive: true }).catch(() => {});
  }
  return { project: p.project, removed: true, output: output(down) };
}
