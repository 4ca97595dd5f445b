/**
 * A real Docker daemon for tests, shared by every test process on the machine.
 *
 * `ensureDockerd()` reuses the daemon named by `IATP_TEST_DOCKER_SOCKET` when set (CI may start
 * one itself), else starts `dockerd` once with its own data root, exec root, pidfile and socket
 * under `IATP_TEST_DOCKERD_DIR` (default /tmp/iatp-dockerd) and leaves it running for the next
 * test process (`deno run -A tests/support/dockerd.ts stop` stops it). It never touches the
 * system daemon at /var/run/docker.sock. Where dockerd cannot run (not root, not installed, no
 * cgroups), it resolves `{available: false, reason}` and the tests that need it are registered
 * with `ignore` (counted as ignored, never as passed).
 *
 * `ensureBusyboxImage()` builds `iatp-test/busybox:1` by `docker import` of a rootfs made from
 * the static busybox binary (busybox-static): no registry needed.
 * @module
 */

/** What {@linkcode ensureDockerd} found. */
export interface Dockerd {
  /** Socket path (without `unix://`). */
  socket: string;
  available: boolean;
  /** Why it is not available. */
  reason: string;
}

/** The test image tag built by {@linkcode ensureBusyboxImage}. */
export const BUSYBOX_IMAGE = "iatp-test/busybox:1";
/** How long a fresh dockerd may take to answer. */
export const DOCKERD_START_TIMEOUT_MS = 90_000;

const STATE_DIR = Deno.env.get("IATP_TEST_DOCKERD_DIR") ?? "/tmp/iatp-dockerd";
const BUSYBOX_CANDIDATES = ["/bin/busybox", "/usr/bin/busybox"];
const BUSYBOX_APPLETS = [
  "sh",
  "ls",
  "cat",
  "echo",
  "sleep",
  "true",
  "false",
  "kill",
  "ps",
  "rm",
  "touch",
  "test",
  "[",
  "wget",
  "nc",
  "date",
  "env",
  "mkdir",
];

let pending: Promise<Dockerd> | undefined;

/**
 * The shared daemon; started on first call in this process and reused. Without one, says why
 * once on stderr: the tests that need it are registered as ignored, and CI fails on ignored.
 */
export function ensureDockerd(): Promise<Dockerd> {
  return pending ??= locate().then((d) => {
    if (!d.available) console.warn(`tests needing dockerd are ignored: ${d.reason}`);
    return d;
  });
}

async function ping(socket: string): Promise<boolean> {
  let client: Deno.HttpClient | undefined;
  try {
    await Deno.stat(socket);
    client = Deno.createHttpClient({ proxy: { transport: "unix", path: socket } });
    const res = await fetch("http://docker/_ping", {
      client,
      signal: AbortSignal.timeout(3000),
    });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  } finally {
    client?.close();
  }
}

async function locate(): Promise<Dockerd> {
  const given = Deno.env.get("IATP_TEST_DOCKER_SOCKET");
  if (given) {
    const socket = given.replace(/^unix:\/\//, "");
    return (await ping(socket))
      ? { socket, available: true, reason: "" }
      : { socket, available: false, reason: `IATP_TEST_DOCKER_SOCKET ${given} does not answer` };
  }
  const socket = `${STATE_DIR}/docker.sock`;
  if (await ping(socket)) return { socket, available: true, reason: "" };
  const reason = await startDaemon(socket);
  return { socket, available: reason === "", reason };
}

async function which(cmd: string): Promise<string | undefined> {
  for (const dir of (Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
    try {
      const path = `${dir}/${cmd}`;
      if ((await Deno.stat(path)).isFile) return path;
    } catch { /* not here */ }
  }
  for (const dir of ["/usr/sbin", "/sbin", "/usr/bin"]) {
    try {
      if ((await Deno.stat(`${dir}/${cmd}`)).isFile) return `${dir}/${cmd}`;
    } catch { /* not here */ }
  }
  return undefined;
}

/** Starts dockerd under a lock so concurrent test processes start only one. "" on success. */
async function startDaemon(socket: string): Promise<string> {
  if (Deno.uid() !== 0) return "dockerd needs root and the tests do not run as root";
  const dockerd = await which("dockerd");
  if (!dockerd) return "dockerd is not installed (apt-get install docker.io)";
  await Deno.mkdir(STATE_DIR, { recursive: true });
  const lock = `${STATE_DIR}/start.lock`;
  const until = Date.now() + DOCKERD_START_TIMEOUT_MS;
  let locked = false;
  while (!locked && Date.now() < until) {
    try {
      await Deno.mkdir(lock);
      locked = true;
    } catch {
      // Another process is starting it: wait for it, or take over a stale lock.
      if (await ping(socket)) return "";
      const age = Date.now() - ((await Deno.stat(lock).catch(() => null))?.mtime?.getTime() ?? 0);
      if (age > DOCKERD_START_TIMEOUT_MS) await Deno.remove(lock).catch(() => {});
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  if (!locked) return "timed out waiting for another process to start dockerd";
  try {
    if (await ping(socket)) return "";
    await Deno.remove(socket).catch(() => {});
    return await spawnDaemon(dockerd, socket, until);
  } catch (err) {
    return `could not start dockerd: ${(err as Error).message}`;
  } finally {
    await Deno.remove(lock).catch(() => {});
  }
}

/** Spawns dockerd detached and waits until it answers or exits. "" on success. */
async function spawnDaemon(dockerd: string, socket: string, until: number): Promise<string> {
  const args = [
    `--data-root=${STATE_DIR}/data`,
    `--exec-root=${STATE_DIR}/exec`,
    `--pidfile=${STATE_DIR}/dockerd.pid`,
    `--host=unix://${socket}`,
    // No iptables and no default bridge: the sandbox and CI may lack both, and tests need
    // no published ports. Compose still creates its own project networks.
    "--iptables=false",
    "--ip-masq=false",
    "--bridge=none",
  ];
  // sh only redirects the daemon's output to its log file (Deno cannot hand a file to stdout).
  const child = new Deno.Command("sh", {
    args: ["-c", 'exec "$0" "$@" >>"$IATP_DOCKERD_LOG" 2>&1', dockerd, ...args],
    env: { IATP_DOCKERD_LOG: `${STATE_DIR}/dockerd.log` },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  child.unref(); // shared across test processes: outlives this one
  while (Date.now() < until) {
    if (await ping(socket)) return "";
    const status = await Promise.race([
      child.status,
      new Promise<null>((r) => setTimeout(() => r(null), 250)),
    ]);
    if (status) {
      const tail = await Deno.readTextFile(`${STATE_DIR}/dockerd.log`).catch(() => "");
      return `dockerd exited with code ${status.code}: ${tail.split("\n").slice(-4).join(" | ")}`;
    }
  }
  return `dockerd did not answer on ${socket} within ${DOCKERD_START_TIMEOUT_MS} ms`;
}

/** Result of a docker CLI call. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the docker CLI against the test daemon. BuildKit is off so `docker build` works without
 * the buildx plugin and never tries a registry for a local FROM image.
 */
export async function dockerCli(
  socket: string,
  args: string[],
  opts: { stdin?: Uint8Array | string; timeoutMs?: number; cwd?: string } = {},
): Promise<CliResult> {
  const child = new Deno.Command("docker", {
    args: ["-H", `unix://${socket}`, ...args],
    env: { DOCKER_BUILDKIT: "0", DOCKER_CLI_HINTS: "false" },
    cwd: opts.cwd,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(
      typeof opts.stdin === "string" ? new TextEncoder().encode(opts.stdin) : opts.stdin,
    );
    await w.close();
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, opts.timeoutMs ?? 120_000);
  const out = await child.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Builds (once) the busybox test image from the static busybox binary; returns its tag. */
export async function ensureBusyboxImage(socket: string): Promise<string> {
  const has = await dockerCli(socket, ["image", "inspect", BUSYBOX_IMAGE]);
  if (has.code === 0) return BUSYBOX_IMAGE;
  let busybox: string | undefined;
  for (const c of BUSYBOX_CANDIDATES) {
    if (await Deno.stat(c).then((s) => s.isFile, () => false)) busybox = c;
    if (busybox) break;
  }
  if (!busybox) throw new Error("busybox not found (apt-get install busybox-static)");
  const root = await Deno.makeTempDir({ prefix: "iatp-rootfs-" });
  try {
    for (const d of ["bin", "etc", "tmp", "proc", "sys", "dev"]) await Deno.mkdir(`${root}/${d}`);
    await Deno.copyFile(busybox, `${root}/bin/busybox`);
    await Deno.chmod(`${root}/bin/busybox`, 0o755);
    for (const applet of BUSYBOX_APPLETS) await Deno.symlink("busybox", `${root}/bin/${applet}`);
    await Deno.writeTextFile(`${root}/etc/passwd`, "root:x:0:0:root:/:/bin/sh\n");
    const tar = await new Deno.Command("tar", { args: ["-C", root, "-cf", "-", "."] }).output();
    if (tar.code !== 0) throw new Error(`tar failed: ${new TextDecoder().decode(tar.stderr)}`);
    const imp = await dockerCli(socket, [
      "import",
      "--change",
      "ENV PATH=/bin",
      "-",
      BUSYBOX_IMAGE,
    ], { stdin: tar.stdout });
    // A concurrent process may have imported it first; only a missing image is a failure.
    if (imp.code !== 0 && (await dockerCli(socket, ["image", "inspect", BUSYBOX_IMAGE])).code) {
      throw new Error(`docker import failed: ${imp.stderr}`);
    }
    return BUSYBOX_IMAGE;
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
}

/** Builds an image from a Dockerfile text with no context (e.g. FROM busybox + HEALTHCHECK). */
export async function buildImage(socket: string, tag: string, dockerfile: string): Promise<void> {
  const r = await dockerCli(socket, ["build", "-q", "-t", tag, "-"], { stdin: dockerfile });
  if (r.code !== 0) throw new Error(`docker build ${tag} failed: ${r.stderr}`);
}

/** Removes containers (by name) ignoring ones that do not exist. */
export async function removeContainers(socket: string, names: string[]): Promise<void> {
  if (names.length > 0) await dockerCli(socket, ["rm", "-f", ...names]);
}

/** How long `stop` waits for the daemon to exit after SIGTERM before it sends SIGKILL. */
export const DOCKERD_STOP_TIMEOUT_MS = 30_000;

function alive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT"); // a no-op signal that fails once the process is gone
    return true;
  } catch {
    return false;
  }
}

/** Stops the shared daemon and waits for it to exit (SIGKILL after the timeout). */
async function stopShared(): Promise<void> {
  const pid = Number(await Deno.readTextFile(`${STATE_DIR}/dockerd.pid`).catch(() => ""));
  if (!pid || !alive(pid)) return console.log("no shared test dockerd running");
  Deno.kill(pid, "SIGTERM");
  const until = Date.now() + DOCKERD_STOP_TIMEOUT_MS;
  while (alive(pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  if (alive(pid)) Deno.kill(pid, "SIGKILL");
  console.log(`stopped test dockerd ${pid}`);
}

if (import.meta.main) {
  const verb = Deno.args[0] ?? "start";
  if (verb === "stop") await stopShared();
  else {
    const d = await ensureDockerd();
    if (d.available && verb === "start") await ensureBusyboxImage(d.socket);
    console.log(JSON.stringify(d));
    Deno.exit(d.available ? 0 : 1);
  }
}

/** A container name unique to this test process and call. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
}

/** `docker run -d --name name ...args`; throws with the CLI's stderr on failure. */
export async function runContainer(socket: string, name: string, args: string[]): Promise<void> {
  const r = await dockerCli(socket, ["run", "-d", "--name", name, "--network", "none", ...args]);
  if (r.code !== 0) throw new Error(`docker run ${name} failed: ${r.stderr}`);
}
