/**
 * `iatp token`: mesh credentials by hand. `keygen` makes an issuer key pair, `issue` signs a
 * credential with scopes, `inspect` shows a credential's claims and whether it verifies.
 * @module
 */
import {
  type Claims,
  createIssuerFiles,
  CredentialError,
  CredentialVerifier,
  decodeClaims,
  isCredentialSubject,
  isMeshScope,
  issueCredential,
  ISSUER_KEY_FILE,
  ISSUER_PUB_FILE,
  readIssuerKey,
  resolveAuthKeys,
  resolveSecretSetting,
  SUBJECT_PATTERN,
} from "../core/auth/mod.ts";
import {
  FileTooLargeError,
  flagErrorLine,
  parseDuration,
  parseFlags,
  readFileRefsAhead,
} from "../core/config/mod.ts";
import { ConfigError, errorMessage, UsageError } from "../core/errors/mod.ts";
import type { PathGrant } from "../core/config/mod.ts";
import type { Command } from "./command.ts";
import { print } from "./shared.ts";

const SCOPES_HELP =
  "publish:<topic pattern>, subscribe:<topic pattern>, audit:append, audit:append:<actor>, " +
  "policy:evaluate, " +
  "dashboard:view, trace:read, status:read, <service>:*, *";

const USAGE = `Usage:
  iatp token keygen --out DIR
  iatp token issue --key FILE --sub NAME --scope SCOPE [--scope SCOPE]... [--ttl DURATION]
                   [--out FILE]
  iatp token inspect TOKEN|file:PATH [--keys KEY|file:PATH]...

keygen   write DIR/${ISSUER_KEY_FILE} (the private issuer seed, mode 0600) and DIR/${ISSUER_PUB_FILE}
         (the public key services verify with: their auth_keys); never overwrites
issue    sign a credential and print it on stdout (nothing else), or with --out write it to FILE
         (owner-only, mode 0600, replacing what the file held)
inspect  print the claims as JSON; with --keys also whether it verifies (exit 1 when it does not)

Flags:
  --out DIR          keygen: folder for the key pair (created owner-only if missing)
  --out FILE         issue: the file to write the credential to (mode 0600)
  --key FILE         issue: the issuer key file (${ISSUER_KEY_FILE})
  --sub NAME         issue: who holds the credential (letters, digits, . _ : @ -; not token:...)
  --scope SCOPE      issue: what it allows (repeatable): ${SCOPES_HELP}
  --ttl DURATION     issue: lifetime such as 30m, 12h or 720h (default 8760h, one year;
                     876000h, 100 years, the longest; 0 never expires)
  --keys KEY         inspect: issuer public key (iatp-ed25519:...) or file:PATH (repeatable)

Prefer file:PATH over a credential on the command line: arguments show in ps and shell history.`;

const HELP = { help: { type: "boolean", short: "h" } } as const;
const KEYGEN_OPTIONS = { out: { type: "string" }, ...HELP } as const;
const ISSUE_OPTIONS = {
  key: { type: "string" },
  out: { type: "string" },
  sub: { type: "string" },
  scope: { type: "string", multiple: true },
  ttl: { type: "string" },
  ...HELP,
} as const;
const INSPECT_OPTIONS = { keys: { type: "string", multiple: true }, ...HELP } as const;

/** Runs a flag parser; its errors become usage errors naming the verb and the flag. */
function flagsOf<T>(verb: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new UsageError(`${verb}: ${flagErrorLine(err)}`, USAGE, { cause: err });
  }
}

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === "") throw new UsageError(`${flag} is required`, USAGE);
  return value;
}

async function keygen(argv: string[]): Promise<number> {
  const { values } = flagsOf("keygen", () => parseFlags(argv, KEYGEN_OPTIONS));
  if (values.help) return usage();
  const out = required(values.out, "--out");
  let publicKey: string;
  try {
    publicKey = (await createIssuerFiles(out)).publicKey;
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) throw err; // reported as a denied path
    const folder = await Deno.stat(out).then((s) => s.isDirectory, () => undefined);
    if (folder === false) {
      throw new UsageError(`--out: expected a folder, found a file at ${out}`, undefined, {
        cause: err,
      });
    }
    if (err instanceof Deno.errors.AlreadyExists) {
      throw new UsageError(
        `--out: ${out} already holds an issuer key; refusing to overwrite it`,
        undefined,
        { cause: err },
      );
    }
    throw new UsageError(`--out: cannot write ${out}: ${firstLine(err)}`, undefined, {
      cause: err,
    });
  }
  print(
    `wrote ${out}/${ISSUER_KEY_FILE} (private, mode 0600) and ${out}/${ISSUER_PUB_FILE}\n` +
      `public key (for auth_keys): ${publicKey}`,
  );
  return 0;
}

/** The longest `--ttl`: 100 years (`0` is the credential that never expires). */
const MAX_TTL_MS = 876_000 * 3_600_000;

/** A TTL in ms: a duration, or 0 for a credential that never expires. */
function parseTtl(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = text.trim() === "0" ? 0 : parseDuration(text);
  if (ms === undefined || (ms > 0 && ms < 1000) || ms > MAX_TTL_MS) {
    throw new UsageError(
      `--ttl: expected a duration from 1s to 876000h (100 years) such as 30m, 12h or 720h ` +
        `(0: never expires), found ${JSON.stringify(text)}`,
      USAGE,
    );
  }
  return ms;
}

async function loadIssuer(path: string) {
  try {
    return await readIssuerKey(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new UsageError(`--key: no such file ${path}`, undefined, { cause: err });
    }
    if (err instanceof CredentialError || err instanceof FileTooLargeError) {
      throw new UsageError(`--key: ${path} is not an issuer key: ${err.message}`, undefined, {
        cause: err,
      });
    }
    if (err instanceof Deno.errors.NotCapable) throw err; // reported as a denied path
    throw new UsageError(`--key: cannot read ${path}: ${firstLine(err)}`, undefined, {
      cause: err,
    });
  }
}

/** The first line of an error's message (Deno's file errors end with the call and the path). */
function firstLine(err: unknown): string {
  return errorMessage(err).split("\n")[0];
}

async function issue(argv: string[]): Promise<number> {
  const { values: v } = flagsOf("issue", () => parseFlags(argv, ISSUE_OPTIONS));
  if (v.help) return usage();
  const keyFile = required(v.key, "--key");
  const sub = required(v.sub, "--sub");
  if (!SUBJECT_PATTERN.test(sub)) {
    throw new UsageError(`--sub: expected a name matching ${SUBJECT_PATTERN}`, USAGE);
  }
  if (!isCredentialSubject(sub)) {
    throw new UsageError(
      `--sub: a name starting with token: names a static token's principal; choose another`,
      USAGE,
    );
  }
  const scopes = v.scope ?? [];
  if (scopes.length === 0) throw new UsageError("--scope is required (at least one)", USAGE);
  const bad = scopes.find((s) => !isMeshScope(s));
  if (bad !== undefined) {
    throw new UsageError(`--scope: ${JSON.stringify(bad)} is not one of ${SCOPES_HELP}`, USAGE);
  }
  const ttlMs = parseTtl(v.ttl);
  if (v.out === "") throw new UsageError("--out: expected a file path", USAGE);
  const issuer = await loadIssuer(keyFile);
  const credential = await issueCredential(issuer, { sub, scopes, ttlMs });
  if (v.out === undefined) {
    print(credential);
    return 0;
  }
  await writeOwnerOnly(v.out, credential + "\n");
  print(`wrote ${v.out} (mode 0600)`);
  return 0;
}

/**
 * Writes `text` to `path` readable by its owner only: an existing file is made 0600 before the
 * credential goes in (a shell redirect leaves a new file to the umask, often 0644).
 * @throws {UsageError} naming `--out` when the path is a folder or cannot be written
 */
async function writeOwnerOnly(path: string, text: string): Promise<void> {
  try {
    const info = await Deno.lstat(path).catch((err) => {
      if (err instanceof Deno.errors.NotFound) return undefined;
      throw err;
    });
    if (info?.isDirectory) {
      throw new UsageError(`--out: expected a file, found a folder at ${path}`);
    }
    if (info?.isSymlink) {
      throw new UsageError(`--out: ${path} is a symlink; name the file itself`);
    }
    if (info !== undefined) await Deno.chmod(path, 0o600);
    await Deno.writeTextFile(path, text, { mode: 0o600 });
  } catch (err) {
    if (err instanceof UsageError || err instanceof Deno.errors.NotCapable) throw err;
    if (err instanceof Deno.errors.NotFound) {
      throw new UsageError(`--out: cannot write ${path}: its folder does not exist`, undefined, {
        cause: err,
      });
    }
    throw new UsageError(`--out: cannot write ${path}: ${firstLine(err)}`, undefined, {
      cause: err,
    });
  }
}

/** Reads `file:PATH` values (a pipe within IATP_FILE_READ_TIMEOUT); a failure is a usage error naming `name`. */
async function readArg(name: string, value: string): Promise<string> {
  try {
    await readFileRefsAhead(name, value, { kind: "flag", name });
    return resolveSecretSetting(name, value) ?? "";
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    throw new UsageError(`${name}: expected ${err.expected}, found ${err.found}`, USAGE, {
      cause: err,
    });
  }
}

/** The issuer keys of `--keys` values (keys or file:PATH). */
async function trustedKeys(values: string[]): Promise<string[]> {
  try {
    await readFileRefsAhead("keys", values, { kind: "flag", name: "keys" });
    return resolveAuthKeys(values, { kind: "flag", name: "keys" });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    throw new UsageError(`--keys: expected ${err.expected}, found ${err.found}`, USAGE, {
      cause: err,
    });
  }
}

/** A claim's time as ISO 8601; a time past what a Date holds (a crafted credential) says so. */
function isoOf(secs: number | undefined): string | null {
  if (secs === undefined) return null;
  const date = new Date(secs * 1000);
  return Number.isNaN(date.getTime()) ? `out of range (${secs} s)` : date.toISOString();
}

async function inspect(argv: string[]): Promise<number> {
  const { values, positionals } = flagsOf("inspect", () => parseFlags(argv, INSPECT_OPTIONS, true));
  if (values.help) return usage();
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0 ? "inspect: missing TOKEN" : "inspect: one TOKEN at a time",
      USAGE,
    );
  }
  const trusted = await trustedKeys(values.keys ?? []);
  const text = await readArg("TOKEN", positionals[0]);
  let claims: Claims;
  try {
    claims = decodeClaims(text);
  } catch (err) {
    if (!(err instanceof CredentialError)) throw err;
    // A file named without its prefix: say how to name one (the value itself is not echoed).
    const hint = !positionals[0].startsWith("file:") && /[/\\]|\.(token|txt)$/.test(positionals[0])
      ? " (a file name? give it as file:PATH)"
      : "";
    throw new UsageError(`TOKEN: ${err.message}${hint}`, USAGE, { cause: err });
  }
  const out: Record<string, unknown> = {
    claims,
    issued_at: isoOf(claims.iat),
    expires_at: isoOf(claims.exp),
  };
  if (trusted.length > 0) {
    try {
      await new CredentialVerifier(trusted).verify(text);
      out.verified = true;
    } catch (err) {
      if (!(err instanceof CredentialError)) throw err;
      out.verified = false;
      out.reason = err.reason;
    }
  }
  print(JSON.stringify(out, null, 2));
  return out.verified === false ? 1 : 0;
}

function usage(): number {
  print(USAGE);
  return 0;
}

/** The path of a `file:PATH` value, or nothing. */
const fileOf = (value: string): string[] => value.startsWith("file:") ? [value.slice(5)] : [];

/**
 * The files and folders a token argv names: keygen writes `--out`, issue reads `--key` (and writes
 * its `--out`), inspect
 * reads `file:PATH` keys and tokens. Issuer keys usually live outside the data folder. None for
 * an argv that does not parse (the run then says why).
 */
function tokenGrants(argv: string[]): PathGrant[] {
  const [verb, ...rest] = argv;
  try {
    if (verb === "keygen") {
      const { out } = parseFlags(rest, KEYGEN_OPTIONS).values;
      return out ? [{ path: out, access: "write" }] : [];
    }
    if (verb === "issue") {
      const { key, out } = parseFlags(rest, ISSUE_OPTIONS).values;
      return [
        ...(key ? [{ path: key, access: "read" as const }] : []),
        ...(out ? [{ path: out, access: "write" as const }] : []),
      ];
    }
    if (verb === "inspect") {
      const { values, positionals } = parseFlags(rest, INSPECT_OPTIONS, true);
      return [...(values.keys ?? []), ...positionals].flatMap(fileOf)
        .map((path) => ({ path, access: "read" as const }));
    }
  } catch { /* a usage error: the run reports it */ }
  return [];
}

/** The token command. */
export const command: Command = {
  usage: () => USAGE,
  grants: tokenGrants,
  run(argv) {
    const [verb, ...rest] = argv;
    if (verb === "keygen") return keygen(rest);
    if (verb === "issue") return issue(rest);
    if (verb === "inspect") return inspect(rest);
    if (verb === "--help" || verb === "-h" || verb === "help") return Promise.resolve(usage());
    throw new UsageError(
      verb ? `unknown verb "${verb}"` : "missing verb (keygen, issue or inspect)",
      USAGE,
    );
  },
};
