/**
 * A throwaway PostgreSQL cluster for tests and benchmarks: `initdb` into a temp dir, `pg_ctl`
 * start on a free loopback port (TCP only, password auth), stopped and removed after. Run as the
 * `postgres` user when this process is root (PostgreSQL refuses to run as root).
 * @module
 */
import { freePort } from "../helpers.ts";
import {
  connectPostgres,
  type PostgresHandle,
  type PostgresOptions,
} from "../../core/engine/mod.ts";

/** Where Debian's PostgreSQL binaries live (the newest major version installed). */
function findBinDir(): string | undefined {
  try {
    const majors = [...Deno.readDirSync("/usr/lib/postgresql")].map((e) => e.name)
      .filter((n) => /^[0-9]+$/.test(n)).sort((a, b) => Number(b) - Number(a));
    for (const m of majors) {
      const dir = `/usr/lib/postgresql/${m}/bin`;
      if (Deno.statSync(`${dir}/initdb`).isFile) return dir;
    }
  } catch { /* not installed */ }
  return undefined;
}

const BIN = findBinDir();
const IS_ROOT = Deno.uid() === 0;

/** Uid and gid of the `postgres` account, when this process is root and it exists. */
function postgresAccount(): { uid: number; gid: number } | undefined {
  try {
    const line = Deno.readTextFileSync("/etc/passwd").split("\n")
      .find((l) => l.startsWith("postgres:"));
    if (!line) return undefined;
    const [, , uid, gid] = line.split(":");
    return { uid: Number(uid), gid: Number(gid) };
  } catch {
    return undefined;
  }
}

const ACCOUNT = IS_ROOT ? postgresAccount() : undefined;

/** Why a throwaway cluster cannot start here, or undefined when it can (for `ignore:`). */
export const postgresMissing: string | undefined = BIN === undefined
  ? "PostgreSQL server binaries (apt postgresql) are not installed"
  : IS_ROOT && ACCOUNT === undefined
  ? "running as root without a postgres account to run the server as"
  : undefined;

/** The user and password of every throwaway cluster. */
export const PG_USER = "iatp";
const PG_PASSWORD = "pg-test-secret";
/** Longest wait for the server to accept connections. */
const START_TIMEOUT_MS = 30_000;

/** A running throwaway cluster. */
export interface TestPostgres {
  /** `postgres://iatp:PASSWORD@127.0.0.1:PORT/postgres` */
  url: string;
  /** The same URL without the password. */
  urlWithoutPassword: string;
  password: string;
  port: number;
  /** Stops the server at once (`-m immediate`, like a crash); the data stays. */
  kill(): Promise<void>;
  /** Starts it again on the same port. */
  restart(): Promise<void>;
  /**
   * `pg_ctl restart -m fast`: each backend ends its session with FATAL 57P01 (terminating
   * connection due to administrator command) and closes its connection, then the server starts
   * again on the same port; the data stays.
   */
  restartFast(): Promise<void>;
  /** Freezes the server and its backends (SIGSTOP): connections stay open, nothing answers. */
  pause(): void;
  /** Lets a paused server go on (SIGCONT). */
  resume(): void;
  /** Stops it and removes its files. */
  stop(): Promise<void>;
}

/** Runs a PostgreSQL binary, as the postgres account when root; throws with its output. */
async function pg(tool: string, args: string[]): Promise<void> {
  const cmd = IS_ROOT ? "runuser" : `${BIN}/${tool}`;
  const full = IS_ROOT ? ["-u", "postgres", "--", `${BIN}/${tool}`, ...args] : args;
  const out = await new Deno.Command(cmd, { args: full, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    const dec = new TextDecoder();
    throw new Error(
      `${tool} failed (${out.code}): ${dec.decode(out.stderr)}${dec.decode(out.stdout)}`,
    );
  }
}

/**
 * Starts a fresh cluster. `fsync: false` (the default) for tests that never crash the server;
 * benchmarks pass `true` to compare with SQLite's synchronous=FULL fairly. `listen` is the
 * server's `listen_addresses` (default `127.0.0.1`).
 * @throws {Error} when PostgreSQL is missing ({@linkcode postgresMissing}) or fails to start.
 */
export async function startPostgres(
  opts: {
    fsync?: boolean;
    listen?: string;
    /** PEM server certificate and key: the server takes TLS (`ssl=on`) with them. */
    tls?: { cert: string; key: string };
  } = {},
): Promise<TestPostgres> {
  if (postgresMissing) throw new Error(postgresMissing);
  const dir = await Deno.makeTempDir({ prefix: "iatp-pg-" });
  if (ACCOUNT) await Deno.chown(dir, ACCOUNT.uid, ACCOUNT.gid);
  const data = `${dir}/data`;
  const pwfile = `${dir}/pw`;
  await Deno.writeTextFile(pwfile, PG_PASSWORD);
  if (ACCOUNT) await Deno.chown(pwfile, ACCOUNT.uid, ACCOUNT.gid);
  await pg("initdb", [
    "-D",
    data,
    "-U",
    PG_USER,
    `--pwfile=${pwfile}`,
    "--auth=scram-sha-256",
    "--no-sync",
    "-E",
    "UTF8",
  ]);
  const port = freePort();
  const tls: string[] = [];
  if (opts.tls) {
    // Copies the server reads as its own user, the key private to it (the server insists).
    for (const [name, from] of [["server.crt", opts.tls.cert], ["server.key", opts.tls.key]]) {
      await Deno.copyFile(from, `${dir}/${name}`);
      await Deno.chmod(`${dir}/${name}`, 0o600);
      if (ACCOUNT) await Deno.chown(`${dir}/${name}`, ACCOUNT.uid, ACCOUNT.gid);
    }
    tls.push(
      "-c ssl=on",
      `-c ssl_cert_file=${dir}/server.crt`,
      `-c ssl_key_file=${dir}/server.key`,
    );
  }
  const settings = [
    ...tls,
    `-c listen_addresses=${opts.listen ?? "127.0.0.1"}`,
    `-c port=${port}`,
    `-c unix_socket_directories=${dir}`,
    `-c fsync=${opts.fsync ? "on" : "off"}`,
    `-c max_connections=100`,
  ].join(" ");
  const start = () =>
    pg("pg_ctl", ["-D", data, "-l", `${dir}/log`, "-w", "-t", "30", "-o", settings, "start"]);
  const stopWith = (mode: string) => pg("pg_ctl", ["-D", data, "-m", mode, "-w", "stop"]);
  await start();
  const base = `127.0.0.1:${port}/postgres`;
  const db: TestPostgres = {
    url: `postgres://${PG_USER}:${PG_PASSWORD}@${base}`,
    urlWithoutPassword: `postgres://${PG_USER}@${base}`,
    password: PG_PASSWORD,
    port,
    kill: () => stopWith("immediate"),
    restart: start,
    async restartFast() {
      await stopWith("fast");
      await start();
    },
    pause: () => signalCluster(data, "SIGSTOP"),
    resume: () => signalCluster(data, "SIGCONT"),
    async stop() {
      try {
        signalCluster(data, "SIGCONT");
      } catch { /* not running */ }
      await stopWith("immediate").catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
  await waitAccepting(port).catch(async (err) => {
    await db.stop();
    throw err;
  });
  return db;
}

/** Sends `signal` to the cluster's postmaster and each of its child processes, by pid. */
function signalCluster(data: string, signal: Deno.Signal): void {
  const postmaster = Number(Deno.readTextFileSync(`${data}/postmaster.pid`).split("\n")[0]);
  const pids = [postmaster];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^[0-9]+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      // Fields after the parenthesized command name: state, ppid, ...
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === postmaster) pids.push(Number(e.name));
    } catch { /* the process ended meanwhile */ }
  }
  for (const pid of pids) {
    try {
      Deno.kill(pid, signal);
    } catch { /* the process ended meanwhile */ }
  }
}

async function waitAccepting(port: number): Promise<void> {
  const until = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      c.close();
      return;
    } catch (err) {
      if (Date.now() > until) {
        throw new Error(`PostgreSQL on ${port} never listened`, { cause: err });
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/**
 * A read-write connection to `url` as the tests' own client (application name `iatp-test`), for
 * setting a database up and looking into it; `extra` adds or overrides options.
 */
export function testConnection(
  url: string,
  extra: Partial<PostgresOptions> = {},
): Promise<PostgresHandle> {
  return connectPostgres({
    url,
    setting: "db",
    targetSessionAttrs: "read-write",
    applicationName: "iatp-test",
    ...extra,
  });
}
