/**
 * The container image's entrypoint: runs `main.ts <subcommand> ...` (a service from its own file,
 * `cmd/<service>.ts ...`: cmd/run.ts) in a child Deno process with exactly that subcommand's line
 * of cmd/permissions.txt (placeholders filled for this layout), forwarding signals, stdio and the
 * exit code. Deno cannot narrow a granted category to a list at run time, so a single process
 * holding the union could not be made least-privilege; a child started with the right flags can.
 * This launcher itself may only read the environment (to find IATP_DATA_DIR and the files the
 * operator named) and run the Deno executable: the paths a command line names come from a first
 * child, `cmd/grants.ts` (`iatp __grants`), run with read-only rights.
 *
 *   deno run --allow-env --allow-run=/usr/local/bin/deno /app/scripts/launcher.ts relay --port 8005
 * @module
 */
import { entryOf, launchEnv, launchFlags, PERMISSIONS } from "../cmd/permissions.ts";
import type { PathGrant } from "../core/config/mod.ts";

/** Signals passed on to the child (the launcher is PID 1 in a container). */
const FORWARDED_SIGNALS: Deno.Signal[] = ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT"];

/** The app folder: the parent of this file's folder. */
const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname).replace(/\/$/, "");

function fail(message: string): never {
  console.error(`iatp launcher: ${message}`);
  Deno.exit(2);
}

/**
 * The paths an argv and the environment name for a subcommand, from `cmd/grants.ts` run with
 * read-only rights; none when it cannot tell (the subcommand then reports what it lacks).
 */
async function namedPaths(deno: string, argv: string[]): Promise<PathGrant[]> {
  const out = await new Deno.Command(deno, {
    args: [
      "run",
      "--quiet",
      "--no-prompt",
      "--cached-only",
      `--config=${ROOT}/deno.json`,
      "--allow-read",
      "--allow-env",
      `${ROOT}/cmd/grants.ts`,
      ...argv,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  if (!out.success) return [];
  return new TextDecoder().decode(out.stdout).split("\n").flatMap((line) => {
    const [access, path] = line.split("\t");
    return (access === "read" || access === "write") && path ? [{ access, path }] : [];
  });
}

/** The paths to grant `name`: what its line names; for `config show|check`, read-only. */
async function grantsOf(deno: string, name: string, argv: string[]): Promise<PathGrant[]> {
  if (!PERMISSIONS.has(name) || name === "__grants") return [];
  if (name !== "config") return await namedPaths(deno, argv);
  const [, verb, target, ...rest] = argv;
  if (target === undefined) return [];
  const line = verb === "check" && rest.length === 1
    ? [target, "--config", rest[0]]
    : [target, ...rest];
  return (await namedPaths(deno, line)).map((g) => ({ path: g.path, access: "read" as const }));
}

async function launch(argv: string[]): Promise<number> {
  const env = Deno.env.toObject();
  const data = env.IATP_DATA_DIR;
  if (!data) fail("IATP_DATA_DIR must name the data folder (the image sets /data)");
  const deno = Deno.execPath();
  const name = ["--help", "-h", undefined].includes(argv[0])
    ? "help"
    : ["--version", "-V"].includes(argv[0])
    ? "version"
    : argv[0];
  const grants = await grantsOf(deno, name, argv);
  let flags: string[];
  try {
    const layout = { root: ROOT, data, deno };
    flags = launchFlags({ name, args: argv.slice(1), env, layout, grants });
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
  const entry = entryOf(argv);
  const child = new Deno.Command(deno, {
    args: [
      "run",
      "--quiet",
      "--no-prompt",
      "--cached-only",
      `--config=${ROOT}/deno.json`,
      ...flags,
      `${ROOT}/${entry.file}`,
      ...entry.args,
    ],
    // The line's environment words the operator's environment does not set (cmd/permissions.txt).
    env: launchEnv(name, env),
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  for (const signal of FORWARDED_SIGNALS) {
    Deno.addSignalListener(signal, () => {
      try {
        child.kill(signal);
      } catch { /* already gone */ }
    });
  }
  // Deno reports a child killed by signal N as code 128 + N, as a shell would.
  return (await child.status).code;
}

if (import.meta.main) Deno.exit(await launch(Deno.args));
