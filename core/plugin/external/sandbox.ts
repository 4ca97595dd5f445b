/**
 * The sandbox of external-runtime plugins: bubblewrap (`bwrap`, from the distribution) with
 * every namespace unshared (no network unless the manifest declares it and the agent allows
 * it), a read-only view of the system, the plugin folder read-only, a private `/work` and `/tmp`
 * (each a tmpfs of bounded size; of the agent's work folder only the call's input and the RPC
 * socket are bound in, read-only), no capabilities, a cleared environment, and rlimits applied by
 * `prlimit` inside (address space, CPU seconds, open files, processes, file size). A plugin is
 * never run without it: a missing bwrap is an error.
 * @module
 */
import { join } from "node:path";
import { PluginError } from "../errors.ts";
import { errorMessage } from "../../errors/mod.ts";

/** Where the plugin folder appears inside the sandbox. */
const SANDBOX_PLUGIN_DIR = "/plugin";
/** Where the private work folder appears inside the sandbox. */
export const SANDBOX_WORK_DIR = "/work";
/** Default bound on processes the plugin may add (a fork bomb stops here). */
const DEFAULT_MAX_PROCESSES = 64;
/** Default open files. */
const DEFAULT_MAX_OPEN_FILES = 256;
/** The user a sandbox runs as when the agent runs as root (RLIMIT_NPROC exempts root). */
export const SANDBOX_UID = 65534;
/** Default largest file the plugin may write. */
const DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024;
/** Default size of each of the sandbox's own writable folders, `/work` and `/tmp` (memory). */
const DEFAULT_MAX_SCRATCH_BYTES = 64 * 1024 * 1024;

/** The interpreter of each external runtime, as found inside the sandbox. */
const INTERPRETERS: Record<string, string> = { python: "/usr/bin/python3" };

/** What one sandboxed run is given. */
export interface SandboxSpec {
  runtime: string;
  pluginDir: string;
  entry: string;
  args: string[];
  workDir: string;
  env: Record<string, string>;
  /** Host network shared (only when declared and allowed). */
  network: boolean;
  /** Extra host paths, read-only and read-write (already checked against the policy). */
  read: string[];
  write: string[];
  memoryMb: number;
  cpuSecs: number;
  maxProcesses?: number;
  maxOpenFiles?: number;
  maxFileBytes?: number;
  /** Size of `/work` and of `/tmp`, each a tmpfs of its own (default 64 MiB). */
  maxScratchBytes?: number;
  /**
   * The agent runs as root: no user namespace; inside, privileges are dropped to
   * {@linkcode SANDBOX_UID} (so the process limit applies, and no capability is kept).
   */
  asRoot: boolean;
}

/** Paths the sandbox provides itself (its own /proc, /dev, private /tmp, plugin, work). */
const OWN_MOUNTS = ["/proc", "/dev", "/tmp", SANDBOX_PLUGIN_DIR, SANDBOX_WORK_DIR];

/**
 * Whether a declared path is bound from the host: not the root (which would cover the
 * sandbox's own mounts), and not under what the sandbox provides itself.
 */
function bindable(path: string): boolean {
  const p = path.replace(/\/+$/, "");
  if (p === "" || !p.startsWith("/")) return false;
  return !OWN_MOUNTS.some((m) => p === m || p.startsWith(`${m}/`));
}

/** Every folder above the given absolute paths, parents first (not `/`, not the paths). */
function ancestors(paths: readonly string[]): string[] {
  const out = new Set<string>();
  for (const path of paths) {
    const parts = path.replace(/\/+$/, "").split("/").filter((x) => x !== "" && x !== ".");
    for (let i = 1; i < parts.length; i++) out.add(`/${parts.slice(0, i).join("/")}`);
  }
  return [...out].sort((a, b) => a.split("/").length - b.split("/").length);
}

/** The system folders bound read-only (those that exist). */
export const SYSTEM_DIRS: readonly string[] = [
  "/usr",
  "/bin",
  "/sbin",
  "/lib",
  "/lib64",
  "/etc/alternatives",
];

/** Tasks on the machine now (RLIMIT_NPROC counts every task of the user, not just ours). */
function machineTasks(): number {
  try {
    const total = Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[3]?.split("/")[1]);
    return Number.isFinite(total) ? total : 4096;
  } catch {
    return 4096;
  }
}

/**
 * The bwrap command line for one plugin process.
 * @throws {PluginError} ("denied") for a runtime without a known interpreter.
 */
export function sandboxCommand(s: SandboxSpec): { cmd: string; args: string[] } {
  const interpreter = INTERPRETERS[s.runtime];
  if (!interpreter) throw new PluginError("denied", `no sandboxed interpreter for ${s.runtime}`);
  const args = ["--die-with-parent", "--new-session"];
  if (s.asRoot) {
    args.push("--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try");
    if (!s.network) args.push("--unshare-net");
  } else {
    args.push("--unshare-all");
    if (s.network) args.push("--share-net");
  }
  // bwrap makes the folders leading to a mount point 0700 when it runs as root, and the plugin
  // runs as the sandbox user: without this a declared `/var/log/app.log` (and `/etc/alternatives`)
  // sits behind a folder the plugin may not enter. Only the folders are made: nothing in them is
  // visible but what is bound.
  const binds = [...SYSTEM_DIRS, ...s.read.filter(bindable), ...s.write.filter(bindable)];
  for (const dir of ancestors(binds)) args.push("--perms", "0755", "--dir", dir);
  for (const d of SYSTEM_DIRS) args.push("--ro-bind-try", d, d);
  // What the plugin writes of its own goes to memory of a bounded size, not to the agent's disk:
  // a file is bounded by RLIMIT_FSIZE, but not how many it writes. Of the agent's work folder it
  // sees only what the agent puts there for it: the call's input (read-only) and the RPC socket.
  const scratch = String(s.maxScratchBytes ?? DEFAULT_MAX_SCRATCH_BYTES);
  args.push("--proc", "/proc", "--dev", "/dev");
  args.push("--perms", "1777", "--size", scratch, "--tmpfs", "/tmp");
  args.push("--perms", "1777", "--size", scratch, "--tmpfs", SANDBOX_WORK_DIR);
  for (const p of s.read.filter(bindable)) args.push("--ro-bind-try", p, p);
  for (const p of s.write.filter(bindable)) args.push("--bind-try", p, p);
  args.push("--ro-bind", s.pluginDir, SANDBOX_PLUGIN_DIR);
  args.push("--ro-bind-try", join(s.workDir, "input.json"), `${SANDBOX_WORK_DIR}/input.json`);
  args.push("--ro-bind-try", join(s.workDir, "run"), `${SANDBOX_WORK_DIR}/run`);
  args.push("--clearenv");
  const env = {
    PATH: "/usr/local/bin:/usr/bin:/bin",
    HOME: SANDBOX_WORK_DIR,
    PYTHONDONTWRITEBYTECODE: "1",
    PYTHONUNBUFFERED: "1",
    ...s.env,
  };
  for (const [k, v] of Object.entries(env)) args.push("--setenv", k, v);
  args.push("--chdir", SANDBOX_WORK_DIR);
  if (!s.asRoot) args.push("--cap-drop", "ALL");
  args.push("--");
  const max = s.maxProcesses ?? DEFAULT_MAX_PROCESSES;
  // RLIMIT_NPROC counts every process of the user: the sandbox user's own as root, else the
  // agent user's (so the machine's task count is added).
  const nproc = s.asRoot ? max : machineTasks() + max;
  if (s.asRoot) {
    args.push(
      "/usr/bin/setpriv",
      `--reuid=${SANDBOX_UID}`,
      `--regid=${SANDBOX_UID}`,
      "--clear-groups",
      "--inh-caps=-all",
      "--bounding-set=-all",
      "--no-new-privs",
      "--",
    );
  }
  args.push(
    "/usr/bin/prlimit",
    `--as=${s.memoryMb * 1024 * 1024}`,
    `--cpu=${Math.max(1, Math.ceil(s.cpuSecs))}`,
    `--nofile=${s.maxOpenFiles ?? DEFAULT_MAX_OPEN_FILES}`,
    `--nproc=${nproc}`,
    `--fsize=${s.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES}`,
    "--",
    interpreter,
    `${SANDBOX_PLUGIN_DIR}/${s.entry}`,
    ...s.args,
  );
  return { cmd: "bwrap", args };
}

/** What the probe found: the sandbox works (as root or not), or why it does not. */
export type SandboxProbe = { ok: true; asRoot: boolean } | { ok: false; reason: string };

const probes = new Map<string, Promise<SandboxProbe>>();

/**
 * Runs `id -u` in a bubblewrap sandbox made with `args` and the mounts every plugin sandbox
 * makes (a fresh /proc, /dev and /tmp): a kernel may allow the namespaces yet refuse the mount of
 * a new /proc, as it does in a systemd unit or a container whose /proc has parts masked or
 * read-only (ProtectKernelTunables=, ProtectKernelLogs=, a runtime's masked paths).
 */
async function run(bin: string, args: string[]) {
  return await new Deno.Command(bin, {
    args: [
      ...args,
      ...SYSTEM_DIRS.flatMap((d) => ["--ro-bind-try", d, d]),
      ...["--proc", "/proc", "--dev", "/dev", "--size", "1048576", "--tmpfs", "/tmp"],
      "--",
      "/usr/bin/id",
      "-u",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
}

/**
 * Whether bubblewrap (`bin`) can make a sandbox here, and whether the agent is root (cached).
 * @example
 * ```ts
 * const p = await probeSandbox();
 * ```
 */
export function probeSandbox(bin = "bwrap"): Promise<SandboxProbe> {
  const cached = probes.get(bin);
  if (cached) return cached;
  const probe = (async (): Promise<SandboxProbe> => {
    try {
      // Without a user namespace only root can unshare: that tells root apart.
      const root = await run(bin, ["--unshare-pid", "--unshare-net"]);
      const dec = new TextDecoder();
      if (root.success && dec.decode(root.stdout).trim() === "0") return { ok: true, asRoot: true };
      const user = await run(bin, ["--unshare-all"]);
      if (user.success) return { ok: true, asRoot: false };
      return {
        ok: false,
        reason: `bubblewrap cannot create a sandbox: ${
          dec.decode(user.stderr).trim().slice(0, 200)
        }`,
      };
    } catch (err) {
      return {
        ok: false,
        reason: err instanceof Deno.errors.NotFound
          ? "bubblewrap (bwrap) is not installed: external-runtime plugins never run unsandboxed"
          : `bubblewrap cannot be run: ${errorMessage(err)}`,
      };
    }
  })();
  probes.set(bin, probe);
  return probe;
}

/**
 * Undefined when bubblewrap can run a sandbox here, else why not.
 * @example
 * ```ts
 * const why = await sandboxUnavailable();
 * ```
 */
export async function sandboxUnavailable(bin = "bwrap"): Promise<string | undefined> {
  const p = await probeSandbox(bin);
  return p.ok ? undefined : p.reason;
}

/** Most bytes copied from a plugin folder into a sandbox's private copy. */
const MAX_PLUGIN_COPY_BYTES = 64 * 1024 * 1024;

/**
 * Copies a plugin folder (regular files and folders only; links are skipped) world-readable.
 * @throws {Error} when the folder holds more than {@linkcode MAX_PLUGIN_COPY_BYTES}.
 */
export async function copyTree(from: string, to: string, budget = { left: MAX_PLUGIN_COPY_BYTES }) {
  await Deno.mkdir(to, { recursive: true, mode: 0o755 });
  await Deno.chmod(to, 0o755);
  for await (const e of Deno.readDir(from)) {
    const src = join(from, e.name);
    const dst = join(to, e.name);
    if (e.isDirectory) await copyTree(src, dst, budget);
    else if (e.isFile) {
      budget.left -= (await Deno.stat(src)).size;
      if (budget.left < 0) {
        throw new Error(`plugin folder larger than ${MAX_PLUGIN_COPY_BYTES} bytes`);
      }
      await Deno.copyFile(src, dst);
      await Deno.chmod(dst, 0o644);
    }
  }
}
