/**
 * The configuration reference (docs/configuration.md), rendered from the same declarations that
 * parse flags, env vars and files, so the page cannot drift from the program. Written by
 * `scripts/config-docs`; a test fails when the committed page differs.
 * @module
 */
import { fileURLToPath } from "node:url";
import { type Alias, GLOBAL_ENV, type Leaf } from "../core/config/mod.ts";
import type { CommandEntry, DeclaredConfig } from "./command.ts";

/** Where the program's files are: a default under it is shown relative, as `<iatp>/...`. */
const INSTALL_DIR = fileURLToPath(new URL("../", import.meta.url));

/** Text safe inside a Markdown table cell. */
function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

/** Inline code, safe inside a table cell. */
function code(text: string): string {
  return `\`${cell(text)}\``;
}

function defaultOf(leaf: Leaf): string {
  const f = leaf.field;
  if (f.secret) return "(secret)";
  if (f.default === undefined) return "unset";
  // A default that is a file shipped with the program depends on where it is installed.
  return code(f.show(f.default).replaceAll(INSTALL_DIR, "<iatp>/"));
}

function settingRow(leaf: Leaf): string {
  const flag = leaf.flag
    ? code(leaf.field.boolean ? `--[no-]${leaf.flag}` : `--${leaf.flag} ${leaf.field.metavar}`)
    : "(file only)";
  const env = leaf.env ? code(leaf.env) : "";
  return `| ${code(leaf.key)} | ${flag} | ${env} | ${defaultOf(leaf)} | ${cell(leaf.field.help)} |`;
}

function aliasName(alias: Alias): string {
  const shown = alias.via === "flag" ? `--${alias.name}` : alias.name;
  const unit = alias.unit ? ` (a bare number is in ${alias.unit === "s" ? "seconds" : "ms"})` : "";
  return `${code(shown)}${unit}`;
}

function aliasRows(declared: DeclaredConfig, kind: Alias["kind"]): string[] {
  const rows: string[] = [];
  for (const leaf of declared.leaves()) {
    for (const alias of leaf.aliases.filter((a) => a.kind === kind)) {
      rows.push(`| ${aliasName(alias)} | ${alias.via} | ${code(leaf.key)} |`);
    }
  }
  return rows;
}

function commandSection(name: string, declared: DeclaredConfig): string[] {
  const out = [
    `## ${name}`,
    "",
    cell(declared.spec.summary),
    "",
    `Config file: \`--config PATH\` or \`${declared.envPrefix}CONFIG\`.`,
    "",
    "| Key | Flag | Env | Default | Description |",
    "| --- | ---- | --- | ------- | ----------- |",
    ...declared.leaves().map(settingRow),
    "",
  ];
  const upstream = aliasRows(declared, "upstream");
  if (upstream.length > 0 && declared.spec.upstream) {
    out.push(
      `Also read, by this command only, under the names of ${declared.spec.upstream.system} ` +
        "(after its own env var or key):",
      "",
      "| Name | As | Setting |",
      "| ---- | -- | ------- |",
      ...upstream,
      "",
    );
  }
  const deprecated = aliasRows(declared, "deprecated");
  if (deprecated.length > 0) {
    out.push(
      "Deprecated names, still read for one release (each use logs a warning naming the new one):",
      "",
      "| Name | As | Setting |",
      "| ---- | -- | ------- |",
      ...deprecated,
      "",
    );
  }
  return out;
}

const INTRO = `# Configuration reference

Every setting of every command has one name in three places: a key in the YAML file given with
\`--config PATH\`, a flag, and an environment variable. For key \`a.b_c\` of command \`x\` the flag
is \`--a-b-c\` and the variable is \`IATP_X_A_B_C\` (the command name upper-cased, \`-\` as \`_\`).
A few flags are shorter where the same concept has one name on every command: \`--log-level\`,
\`--relay-url\`, \`--audit-url\`. The first source that sets a value wins:
flag, then env var, then config file, then the built-in default. An environment variable set to
the empty string counts as unset (the file's value or the default applies); an empty flag
(\`--relay-token=\`) sets the empty value, which for a credential means none. A default shown as
\`<iatp>/...\` is a file shipped with the program, under the folder it is installed in.

Value forms, the same everywhere:

| Form | Examples | Notes |
| ---- | -------- | ----- |
| DURATION | \`500ms\`, \`30s\`, \`5m\`, \`1h\`, \`7d\`, \`0\` | \`0\` where a setting allows none |
| SIZE | \`65536\`, \`64KiB\`, \`1MiB\`, \`10MB\` | bytes; KiB/MiB/GiB are powers of 1024 |
| PATH | \`/var/lib/iatp/audit.db\` | a file or folder |
| URL | \`http://127.0.0.1:8005\` | |
| LIST | \`a,b\` | comma-separated, a repeated flag, or a YAML sequence |
| bool | \`true\`, \`false\`, \`1\`, \`0\`, \`yes\`, \`no\` | as a flag: \`--x\` / \`--no-x\` |

A DURATION is at most \`24d\`: it is a wait, a deadline or an interval, and a timer waits at most
2^31 - 1 ms (about 24.8 days), so a longer value is refused at start (exit 2, naming the setting
and its bound) rather than run as a timer that fires after 1 ms. Set \`24d\` for a wait that
should come about never. The ages and lifetimes that are compared with the clock or kept by
another system, not waited for, go up to \`36500d\` (100 years): the relay's \`retention_age\` and
\`duplicate_window\`, the sidecar's \`recorder_ttl\` and \`attestation_ttl\`, the dashboard's
\`session_ttl\`, the sensor's \`sensor.dedup_window\`, and the compose-agent's \`replay_ttl\`,
\`signature_max_skew\` and \`watchdog.cooldown\`. A setting with a tighter bound says so in its
error.

The file may use YAML anchors and aliases (\`&base\`, \`*base\`) and the merge key (\`<<: *base\`,
or a list of aliases, earlier ones winning): a merged key counts as written in the mapping that
merges it, a key written there beside the merge wins, and it is checked like one, its errors naming
the line it is written on.

Credentials (every setting shown as \`(secret)\`) also take \`file:PATH\`: the value is the file's
trimmed content (a trailing \`\\n\` or \`\\r\\n\` goes), which keeps it out of process listings and shell
history. Whitespace around a credential given as it is (a flag, an env var that an env file ends
with a line break) is not part of it either. A credential is one line: a line break or another control character within it, such as a
second line in its file, stops the start with exit 2 naming the setting and the file (\`auth_keys\`
and \`auth_revoked\` files hold one item per line). The relay's \`tokens\`,
a mapping, is the one exception: it is written in the config file, or as JSON in
\`IATP_RELAY_TOKENS\`. A secret is never
printed: \`iatp config show\` gives only that it is set, \`(secret, set)\`, or the file it is read from,
\`(secret, in file:/etc/iatp/relay.token)\`, never its size; an error that refuses a secret gives only
its length, \`(secret, 23 chars)\`. Nor is a password written in a URL setting (\`db\`, \`store\`,
\`recorder_url\`): \`iatp config show\` gives it as \`(secret)\` (\`postgres://app:(secret)@db/iatp\`, a
\`password=\` parameter and a NATS URL's token, \`nats://(secret)@nats:4222\`, too), and an error
hides the URL's user info (\`redis://(user info not shown)@cache:6379\`).

A file a setting names (the config file, a \`file:PATH\` credential, a key, certificate, token,
NATS \`.creds\`, manifest or \`iatp audit verify\` state file) is read whole up to 1 MiB, and within
\`IATP_FILE_READ_TIMEOUT\` (default 5s): one whose data does not arrive or end in time, such as a
named pipe (FIFO) with no writer, stops the start, and \`iatp config check\`, with exit 2 and an error naming the setting and the file. A pipe
that is written is read once, at start: \`--config <(...)\` or \`--relay-token file:<(...)\`
(process substitution). The launchers do not read a piped config file (its data can be read
once), so the paths it names are not granted: allow them with \`IATP_ALLOW_READ\` /
\`IATP_ALLOW_WRITE\`.

\`iatp config show <command> [flags]\` prints the effective value of every setting and where it
came from; \`iatp config check <command> FILE\` loads a file without starting anything (exit 0,
or 2 with the error), reading the files its \`file:PATH\` settings name as the start would (a
missing or unreadable one is the start's error; what a file holds is never printed).

Paths just work: every PATH setting, the config file (by \`--config\` or
\`IATP_<COMMAND>_CONFIG\`), \`file:PATH\` credentials, \`sqlite:PATH\` stores and the folders
\`iatp plugin\` and \`iatp systemd --all\` take are granted by the launchers (\`scripts/iatp\` and
the container image's), each path alone and only with the access it needs (read, or read and
write). The launcher learns them from \`iatp __grants <command> [args...]\`, which reads the same
settings with read-only rights and starts nothing (about 90 ms per start). A path the program
still may not use is reported as \`permission denied: may not read PATH\`, exit 2; allow more with
\`IATP_ALLOW_READ\` / \`IATP_ALLOW_WRITE\` (comma-separated; a granted path cannot hold a comma).
A relative path, in a config file as in a flag, is taken from the folder the command runs in, not
from the config file's folder; a systemd unit from \`iatp systemd\` runs in its state folder,
\`/var/lib/iatp/<command>\`. Nothing expands \`~\` (no shell reads a config file, a unit's
\`Environment=\` or a container's \`-e\`): a PATH setting, \`IATP_DATA_DIR\` or a store file starting
with \`~\` stops the start with exit 2 naming the setting, rather than make a folder named \`~\`.

**Names.** Keys are matched as they are spelled: \`Port\` is an unknown key (the error suggests
\`port\`), \`agent.id\` written as one key is not the \`id\` of section \`agent\`, and a key given
twice in one mapping is a YAML error naming the line; each stops the start with exit 2. A path may
hold spaces, quotes, a leading \`-\`, \`..\` and characters beyond ASCII; it is taken as it is
spelled. A path holding NUL or another control character (a line break, a tab, an escape), one
longer than 4095 bytes or with a name in it longer than 255 bytes (what Linux opens) stops the start
with exit 2 naming the setting, as does such an \`IATP_DATA_DIR\`, rather than fail when the
service first creates the file. A config error shows a key or a path's control and format
characters (a right-to-left override, a zero-width space) as \`\\uXXXX\`.

Names of the systems a command replaces (the IATP sidecars' \`IATP_*\`, the TryDirect status
panel's \`AGENT_ID\`, \`AGENT_TOKEN\`, \`DASHBOARD_URL\`, ...) are read by that command only, after
its own variable; they are listed under each command. No variable is read by two commands.

Earlier names that configured more than one command are not read any more, since keeping them
would let one variable set two commands: \`IATP_CONFIG\` (read by sidecar, sensor and action),
the agents' \`IATP_<SECTION>_<KEY>\` (now \`IATP_SENSOR_...\` and \`IATP_ACTION_...\`), the
sidecar's \`IATP_RELAY_URL\`, \`IATP_RELAY_TOKEN\`, \`IATP_AUDIT_URL\` and \`IATP_AUDIT_TOKEN\` (in
the relay's and the audit service's namespaces; now \`IATP_SIDECAR_...\`), and the compose-agent's
\`AGENT_ID\`, \`AGENT_TOKEN\`, \`DEPLOYMENT_HASH\` and \`VAULT_*\` (the status agent's; now
\`IATP_COMPOSE_AGENT_...\`). Other earlier names are listed under each command as deprecated.

Variables every command reads:

| Name | Meaning |
| ---- | ------- |
`;

/**
 * The whole page, for the commands of `commands` that declare a configuration.
 * @example
 * ```ts
 * await Deno.writeTextFile("docs/configuration.md", await configurationDoc(COMMANDS));
 * ```
 */
export async function configurationDoc(commands: readonly CommandEntry[]): Promise<string> {
  const out = [INTRO.trimEnd()];
  for (const [name, meaning] of Object.entries(GLOBAL_ENV)) {
    out.push(`| ${code(name)} | ${cell(meaning)} |`);
  }
  out.push("");
  for (const entry of commands) {
    if (entry.hidden) continue;
    const command = await entry.load();
    if (command.spec) out.push(...commandSection(entry.name, command.spec));
    for (const [verb, declared] of Object.entries(command.verbs ?? {})) {
      out.push(...commandSection(`${entry.name} ${verb}`, declared));
    }
  }
  return out.join("\n").trimEnd() + "\n";
}
