/**
 * `iatp systemd`: prints a hardened systemd unit for one subcommand, or writes one per
 * service subcommand with `--all DIR`. Units run protected: they point the service's credential
 * settings at `file:` paths under /etc/iatp (the issuer public key, the service's own mesh
 * credentials, the host agents' HMAC keys), so a unit whose files are missing refuses to start
 * with a message naming the setting, instead of running open.
 * @module
 */
import { flagErrorLine, parseFlags } from "../core/config/mod.ts";
import { errorMessage, UsageError } from "../core/errors/mod.ts";
import { type Command, type CommandEntry, findCommand } from "./command.ts";
import { grantsOf, lineEnv, PERMISSIONS } from "./permissions.ts";
import { print } from "./shared.ts";

/** Where units expect the configuration and credential files. */
const CONFIG_DIR = "/etc/iatp";
/** The mode of {@linkcode CONFIG_DIR} (root:iatp, as deployment.md makes it). */
export const CONFIG_DIR_MODE = "0750";
/** The issuer public key every mesh service verifies credentials with. */
const ISSUER_PUB = `${CONFIG_DIR}/issuer.pub`;
/** Each service's own credentials and keys (0750 root:iatp; files 0640). */
export const CREDENTIALS_DIR = `${CONFIG_DIR}/credentials`;

/**
 * The credential settings each unit sets, and the file each reads. Services that serve mesh
 * calls verify with the issuer key; relay and audit callers carry their own credential; the host
 * agents sign with their HMAC keys (the status agent also with the compose-agent's).
 */
export const UNIT_CREDENTIALS: Record<string, Record<string, string>> = {
  sidecar: {
    auth_keys: ISSUER_PUB,
    relay_token: `${CREDENTIALS_DIR}/sidecar.token`,
    audit_token: `${CREDENTIALS_DIR}/sidecar.token`,
  },
  relay: { auth_keys: ISSUER_PUB },
  policy: {
    auth_keys: ISSUER_PUB,
    relay_token: `${CREDENTIALS_DIR}/policy.token`,
    audit_token: `${CREDENTIALS_DIR}/policy.token`,
  },
  audit: { auth_keys: ISSUER_PUB, relay_token: `${CREDENTIALS_DIR}/audit.token` },
  dashboard: { auth_keys: ISSUER_PUB, relay_token: `${CREDENTIALS_DIR}/dashboard.token` },
  sensor: { "relay.token": `${CREDENTIALS_DIR}/sensor.token` },
  action: { "relay.token": `${CREDENTIALS_DIR}/action.token` },
  "compose-agent": {
    agent_token: `${CREDENTIALS_DIR}/compose-agent.key`,
    relay_token: `${CREDENTIALS_DIR}/compose-agent.token`,
  },
  status: {
    agent_token: `${CREDENTIALS_DIR}/status.key`,
    "compose_agent.token": `${CREDENTIALS_DIR}/compose-agent.key`,
    relay_token: `${CREDENTIALS_DIR}/status.token`,
  },
};

/**
 * The env var a setting of `name` is read from: its one name in the scheme,
 * `IATP_<COMMAND>_<KEY>` (units never use an upstream alias).
 * @throws {RangeError} when `name` has no config declaration or no such setting with an env var
 */
export async function settingEnv(
  commands: readonly CommandEntry[],
  name: string,
  key: string,
): Promise<string> {
  const entry = findCommand(commands, name);
  const declared = (await entry?.load())?.spec;
  if (declared === undefined) throw new RangeError(`${name} has no config spec`);
  const env = declared.leaves().find((l) => l.key === key)?.env;
  if (env === undefined) throw new RangeError(`${name} has no env var for ${key}`);
  return env;
}

/**
 * An `Environment=` line that sets `name` to `value` exactly. A value of only letters, digits
 * and `_.,:/+-` is written as is; any other is quoted, with systemd's escapes for `\\` and `"`
 * and `%%` for `%` (a specifier there otherwise). `$` means nothing in `Environment=`.
 * @example
 * ```ts
 * environmentLine("MALLOC_ARENA_MAX", "2"); // "Environment=MALLOC_ARENA_MAX=2"
 * environmentLine("X", "a%b c"); // 'Environment="X=a%%b c"'
 * ```
 */
export function environmentLine(name: string, value: string): string {
  if (/^[A-Za-z0-9_.,:/+-]*$/.test(value)) return `Environment=${name}=${value}`;
  const text = `${name}=${value}`.replace(/[\\"]/g, (c) => `\\${c}`).replace(/%/g, "%%");
  return `Environment="${text}"`;
}

/**
 * The binary as the first word of `ExecStart=`. A path of only letters, digits and `_.,:/+-` is
 * written as is; any other (a space, a non-ASCII letter, `%`...) is quoted, with `%%` for `%` (a
 * specifier otherwise), so the unit runs exactly that file. systemd takes `$` in the executable
 * as itself; it refuses `"`, `'` and `\\` there, so {@linkcode systemdFlags} refuses them first.
 * @example
 * ```ts
 * execPath("/usr/local/bin/iatp"); // "/usr/local/bin/iatp"
 * execPath("/opt/my iatp/100%/iatp"); // '"/opt/my iatp/100%%/iatp"'
 * ```
 */
export function execPath(path: string): string {
  if (/^[A-Za-z0-9_.,:/+-]*$/.test(path)) return path;
  return `"${path.replace(/%/g, "%%")}"`;
}

/** The `Environment=` lines of a unit's credentials. */
async function credentialLines(
  commands: readonly CommandEntry[],
  name: string,
): Promise<string[]> {
  const out: string[] = [];
  for (const [key, path] of Object.entries(UNIT_CREDENTIALS[name] ?? {})) {
    out.push(`Environment=${await settingEnv(commands, name, key)}=file:${path}`);
  }
  return out;
}

/** Subcommands that run as long-lived services (the ones that get a unit). */
export const SERVICE_COMMANDS = [
  "sidecar",
  "relay",
  "policy",
  "audit",
  "dashboard",
  "sensor",
  "action",
  "compose-agent",
  "status",
] as const;

const USAGE = `Usage: iatp systemd <subcommand> [--bin PATH] [--user NAME]
       iatp systemd --all DIR [--bin PATH] [--user NAME]

Prints a hardened systemd unit for a service subcommand (${SERVICE_COMMANDS.join(", ")}),
or writes iatp-<subcommand>.service for each into DIR.

Flags:
  --bin PATH     the iatp binary the unit runs            [default /usr/local/bin/iatp]
  --user NAME    User= and Group= of the service          [default iatp]
  --all DIR      write one unit per service subcommand into DIR
  -h, --help     show this help`;

/** Options for {@linkcode renderUnit}. */
interface UnitOptions {
  bin: string;
  user: string;
  /** `Environment=` lines of the credential settings ({@linkcode credentialLines}). */
  credentials?: string[];
  /** The subcommand's one-line purpose, for `Description=`. */
  summary?: string;
}

/**
 * Whether a subcommand runs plugins in bubblewrap sandboxes (its line may run `bwrap`): the
 * sensor and action agents. bwrap makes a user, mount, PID, network, IPC, UTS and cgroup namespace,
 * mounts the plugin's root (`mount`, `pivot_root`, `umount2`), drops its capabilities (`capset`)
 * and mounts a /proc of its own, which the kernel refuses while parts of the /proc it has are
 * masked or read-only. So such a unit allows those namespaces and calls, and leaves /proc whole
 * (no ProtectKernelTunables= or ProtectKernelLogs=): the sandbox gives each plugin process a
 * read-only system, a /proc of its own PID namespace and no capabilities itself.
 */
export function unitSandboxes(name: string): boolean {
  const run = grantsOf(PERMISSIONS.get(name) ?? [], "run");
  return run === "all" || (run !== "none" && run.includes("bwrap"));
}

/** The namespaces bubblewrap makes for a plugin (`--unshare-all`). */
export const SANDBOX_NAMESPACES = "cgroup ipc mnt net pid user uts";
/** The calls bubblewrap makes that a unit's syscall filter otherwise refuses. */
export const SANDBOX_SYSCALLS = "capset mount pivot_root umount2";

/** The hardened unit text for one service subcommand. */
function renderUnit(name: string, opts: UnitOptions): string {
  const docker = name === "compose-agent";
  const sandbox = unitSandboxes(name);
  const state = `/var/lib/iatp/${name}`;
  const lines = [
    "[Unit]",
    `Description=iatp ${name}: ${opts.summary ?? name}`,
    "Wants=network-online.target",
    "After=network-online.target",
    ...(docker ? ["Requires=docker.service", "After=docker.service"] : []),
    "",
    "[Service]",
    "Type=simple",
    `User=${opts.user}`,
    `Group=${opts.user}`,
    ...(docker ? ["SupplementaryGroups=docker"] : []),
    `ExecStart=${execPath(opts.bin)} ${name} --config /etc/iatp/${name}.yaml`,
    `Environment=IATP_DATA_DIR=${state} DENO_DIR=${state}/.deno`,
    // Protected: credentials come from files; a missing one stops the start, naming the setting.
    ...(opts.credentials ?? []),
    // The allocator settings of its line in cmd/permissions.txt (a compiled binary gets them too).
    ...Object.entries(lineEnv(PERMISSIONS.get(name) ?? [])).map(([k, v]) => environmentLine(k, v)),
    // Read after Environment=, so a value here overrides the lines above.
    `EnvironmentFile=-/etc/iatp/${name}.env`,
    `WorkingDirectory=${state}`,
    `StateDirectory=iatp/${name}`,
    "StateDirectoryMode=0700",
    "ConfigurationDirectory=iatp",
    // The mode deployment.md gives /etc/iatp (root:iatp): systemd warns at every start of a unit
    // whose configuration folder exists with a mode other than this one (0755 when unset).
    `ConfigurationDirectoryMode=${CONFIG_DIR_MODE}`,
    `ReadWritePaths=${state}`,
    ...(docker ? ["ReadWritePaths=/run/docker.sock"] : []),
    "Restart=on-failure",
    "RestartSec=2s",
    "KillSignal=SIGTERM",
    "TimeoutStopSec=30s",
    "UMask=0077",
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    // The Docker socket's group must stay mapped for the compose-agent.
    ...(docker ? [] : ["PrivateUsers=yes"]),
    // Both mask or make read-only parts of /proc: a plugin sandbox could not mount its own.
    ...(sandbox ? [] : ["ProtectKernelTunables=yes"]),
    "ProtectKernelModules=yes",
    ...(sandbox ? [] : ["ProtectKernelLogs=yes"]),
    "ProtectControlGroups=yes",
    "ProtectClock=yes",
    "ProtectHostname=yes",
    "ProtectProc=invisible",
    `RestrictNamespaces=${sandbox ? SANDBOX_NAMESPACES : "yes"}`,
    "RestrictRealtime=yes",
    "RestrictSUIDSGID=yes",
    "LockPersonality=yes",
    "RemoveIPC=yes",
    "KeyringMode=private",
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    "SystemCallArchitectures=native",
    "SystemCallFilter=@system-service",
    "SystemCallFilter=~@privileged @resources @mount @swap @reboot @raw-io @module @obsolete @debug @cpu-emulation",
    // Given back after the refusals above, for the plugin sandbox alone.
    ...(sandbox ? [`SystemCallFilter=${SANDBOX_SYSCALLS}`] : []),
    "SystemCallErrorNumber=EPERM",
    "CapabilityBoundingSet=",
    "AmbientCapabilities=",
    "DevicePolicy=closed",
    // MemoryDenyWriteExecute is left off on purpose: V8's JIT needs writable+executable pages.
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ];
  return lines.join("\n");
}

/** The systemd command over the subcommand table `commands`. */
export function systemdCommand(commands: readonly CommandEntry[]): Command {
  return {
    usage: () => USAGE,
    run: (argv) => runSystemd(commands, argv),
    // --all DIR: the units are written there.
    grants(argv) {
      try {
        const dir = systemdFlags(argv).all;
        return dir ? [{ path: dir, access: "write" }] : [];
      } catch {
        return [];
      }
    },
  };
}

/** The parsed flags of `iatp systemd`, checked. */
function systemdFlags(argv: string[]) {
  let parsed;
  try {
    parsed = parseFlags(argv, {
      bin: { type: "string" },
      user: { type: "string" },
      all: { type: "string" },
      help: { type: "boolean", short: "h" },
    }, true);
  } catch (err) {
    throw new UsageError(flagErrorLine(err), USAGE, { cause: err });
  }
  const { values, positionals } = parsed;
  const { bin = "/usr/local/bin/iatp", user = "iatp" } = values;
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(user)) {
    throw new UsageError(`--user: expected a system user name, found "${user}"`, USAGE);
  }
  if (!bin.startsWith("/")) {
    throw new UsageError(`--bin: expected an absolute path, found ${JSON.stringify(bin)}`, USAGE);
  }
  // A line break would end ExecStart= and start a line of its own; systemd refuses an
  // executable whose name holds a quote or a backslash.
  if ([...bin].some((c) => c < " " || c === "\x7f" || `"'\\`.includes(c))) {
    throw new UsageError(
      `--bin: expected a path without quotes, backslashes or control characters, found ${
        JSON.stringify(bin)
      }`,
      USAGE,
    );
  }
  return { bin, user, all: values.all, help: values.help === true, positionals };
}

async function runSystemd(commands: readonly CommandEntry[], argv: string[]): Promise<number> {
  const flags = systemdFlags(argv);
  if (flags.help) {
    print(USAGE);
    return 0;
  }
  const unit = async (name: string) =>
    renderUnit(name, {
      bin: flags.bin,
      user: flags.user,
      credentials: await credentialLines(commands, name),
      summary: findCommand(commands, name)?.summary,
    });
  if (flags.all !== undefined) {
    if (flags.positionals.length > 0) throw new UsageError("--all takes no subcommand", USAGE);
    const dir = flags.all;
    const written = async (write: () => Promise<void>) => {
      try {
        await write();
      } catch (err) {
        if (err instanceof Deno.errors.NotCapable) throw err; // reported as a denied path
        throw new UsageError(
          `--all: expected a folder the units can be written to, found ${dir}: ` +
            errorMessage(err).split("\n")[0],
          undefined,
          { cause: err },
        );
      }
    };
    await written(() => Deno.mkdir(dir, { recursive: true }));
    for (const name of SERVICE_COMMANDS) {
      const path = `${dir}/iatp-${name}.service`;
      const text = await unit(name);
      await written(() => Deno.writeTextFile(path, text));
      print(path);
    }
    return 0;
  }
  const [name, ...rest] = flags.positionals;
  if (!name || rest.length > 0) throw new UsageError("expected one subcommand", USAGE);
  if (!(SERVICE_COMMANDS as readonly string[]).includes(name)) {
    throw new UsageError(
      `"${name}" is not a service subcommand (one of ${SERVICE_COMMANDS.join(", ")})`,
      USAGE,
    );
  }
  print(await unit(name));
  return 0;
}
