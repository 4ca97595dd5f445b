/**
 * The credentials `iatp up` makes and wires: an issuer key pair and one least-scoped credential
 * per service identity under `<data_dir>/credentials/` (folder 0700, files 0600). Created on
 * first start and reused after; one that is unreadable, expired (or about to be), signed by
 * another key or scoped differently is re-issued, and so is one whose id is listed in
 * `credentials/revoked`, the revocation file every service of the mesh watches (`auth_revoked`).
 * @module
 */
import { join, resolve } from "node:path";
import {
  createIssuerFiles,
  CredentialError,
  CredentialVerifier,
  ensurePrivateDir,
  issueCredential,
  type Issuer,
  ISSUER_KEY_FILE,
  ISSUER_PUB_FILE,
  readIssuerKey,
  RevocationList,
  SECRET_FILE_MODE,
  writeSecretFile,
} from "../auth/mod.ts";
import { encodeBase64 } from "../encoding/mod.ts";
import { type Logger, registerSecret } from "../log/mod.ts";

/** Folder under the data dir. */
export const CREDENTIALS_DIR = "credentials";
/** The revocation file in the credentials folder: one revoked `jti` per line. */
export const REVOKED_FILE = "revoked";
const REVOKED_HEADER =
  "# Revoked credential ids (jti), one per line: every service of `iatp up` refuses\n" +
  "# them within a second or two, with no restart. `iatp token inspect file:PATH` shows a\n" +
  "# credential's jti. A revoked credential of this folder is issued again at the next start.\n";
/** A credential expiring sooner than this is re-issued at start. */
const REISSUE_BEFORE_EXPIRY_MS = 7 * 24 * 3_600_000;

/**
 * Each identity `up` wires and its least scopes. The action agent's id and the sensor's topics
 * follow `up`'s own agent config (`demo-action`, `sensor.<type>`); audit appends are bound to
 * the actor each writes under (`policy`, the demo sidecars' agent ids).
 */
export const UP_IDENTITIES = {
  policy: ["subscribe:access.intent", "publish:access.decision", "audit:append:policy"],
  audit: ["publish:audit.appended"],
  dashboard: ["subscribe:*"],
  sidecar: [
    "publish:iatp.trace",
    "audit:append:demo-assistant",
    "audit:append:demo-untrusted",
  ],
  sensor: ["publish:sensor.*"],
  action: ["subscribe:action.tasks.demo-action", "publish:action.results"],
  demo: ["publish:access.intent", "publish:action.tasks.demo-action"],
  viewer: ["dashboard:view", "subscribe:*"],
  admin: ["*"],
} as const satisfies Record<string, readonly string[]>;

/** A name of {@linkcode UP_IDENTITIES}. */
export type UpIdentity = keyof typeof UP_IDENTITIES;

/** What {@linkcode ensureCredentials} hands back. */
export interface UpCredentials {
  /** Absolute path of the credentials folder. */
  dir: string;
  issuer: Issuer;
  /** An identity's credential (registered as a secret: scrubbed from every log line). */
  token(name: UpIdentity): string;
  /** `file:PATH` of an identity's credential, as services take it in config. */
  file(name: UpIdentity): string;
  /** `file:PATH` of the revocation file every service is given as `auth_revoked`. */
  revokedFile: string;
  /** Identities whose credential was written this start. */
  issued: UpIdentity[];
  /**
   * `file:PATH` of a persistent Ed25519 seed named `name` (`<dir>/<name>.seed`, 0600), made on
   * first use and reused after, so a demo sidecar keeps its signing key across starts.
   */
  seedFile(name: string): Promise<string>;
}

/** A 32-byte Ed25519 seed in base64 at `path`, created once. */
async function ensureSeed(path: string): Promise<void> {
  const seed = await Deno.readTextFile(path).then((t) => t.trim(), () => "");
  if (seed.length === 44) return; // base64 of 32 bytes
  const fresh = encodeBase64(crypto.getRandomValues(new Uint8Array(32)));
  await writeSecretFile(path, fresh, { overwrite: true });
}

async function loadOrCreateIssuer(dir: string, log: Logger): Promise<Issuer> {
  const keyPath = join(dir, ISSUER_KEY_FILE);
  let issuer: Issuer | undefined;
  try {
    issuer = await readIssuerKey(keyPath);
  } catch (err) {
    if (err instanceof CredentialError) {
      log.warn("issuer key unreadable: generating a new one; every credential is re-issued", {
        file: keyPath,
      });
    } else if (!(err instanceof Deno.errors.NotFound)) {
      throw new Error(`cannot read the issuer key ${keyPath}`, { cause: err });
    }
  }
  if (!issuer) return await createIssuerFiles(dir, { overwrite: true });
  await Deno.chmod(keyPath, SECRET_FILE_MODE);
  const pubPath = join(dir, ISSUER_PUB_FILE);
  const pub = await Deno.readTextFile(pubPath).catch(() => "");
  if (pub.trim() !== issuer.publicKey) {
    await writeSecretFile(pubPath, issuer.publicKey, { overwrite: true });
  }
  return issuer;
}

/** True when `token` verifies, belongs to `sub`, holds exactly `scopes` and is not near expiry. */
async function stillGood(
  verifier: CredentialVerifier,
  token: string,
  sub: string,
  scopes: readonly string[],
  now: number,
): Promise<boolean> {
  try {
    const claims = await verifier.verify(token);
    const sameScopes = claims.scopes.length === scopes.length &&
      scopes.every((s) => claims.scopes.includes(s));
    const fresh = claims.exp === undefined || claims.exp * 1000 - now > REISSUE_BEFORE_EXPIRY_MS;
    return claims.sub === sub && sameScopes && fresh;
  } catch (err) {
    if (err instanceof CredentialError) return false;
    throw err;
  }
}

/**
 * Makes or reuses the issuer and every identity's credential under `<dataDir>/credentials/`.
 * @throws {Error} when the folder or a key file cannot be read or written (with the cause).
 */
export async function ensureCredentials(
  dataDir: string,
  log: Logger,
  now: number = Date.now(),
): Promise<UpCredentials> {
  const dir = resolve(dataDir, CREDENTIALS_DIR);
  await ensurePrivateDir(dir);
  const issuer = await loadOrCreateIssuer(dir, log);
  const revokedPath = join(dir, REVOKED_FILE);
  try {
    await writeSecretFile(revokedPath, REVOKED_HEADER);
  } catch (err) {
    if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
    await Deno.chmod(revokedPath, SECRET_FILE_MODE);
  }
  // A credential revoked by its id is issued again: the services refuse the one on file.
  const revoked = new RevocationList([`file:${revokedPath}`]);
  const verifier = new CredentialVerifier([issuer.publicKey], { now: () => now, revoked });
  const tokens = new Map<UpIdentity, string>();
  const issued: UpIdentity[] = [];
  for (const name of Object.keys(UP_IDENTITIES) as UpIdentity[]) {
    const scopes = UP_IDENTITIES[name];
    const path = join(dir, `${name}.token`);
    let token = await Deno.readTextFile(path).then((t) => t.trim(), () => "");
    if (!(await stillGood(verifier, token, name, scopes, now))) {
      token = await issueCredential(issuer, { sub: name, scopes: [...scopes], now });
      await writeSecretFile(path, token, { overwrite: true });
      issued.push(name);
    } else {
      await Deno.chmod(path, SECRET_FILE_MODE);
    }
    registerSecret(token);
    tokens.set(name, token);
  }
  if (issued.length > 0) log.info("credentials issued", { dir, identities: issued });
  const token = (name: UpIdentity) => {
    const t = tokens.get(name);
    if (t === undefined) throw new RangeError(`no credential for ${name}`);
    return t;
  };
  const seedFile = async (name: string) => {
    const path = join(dir, `${name}.seed`);
    await ensureSeed(path);
    return `file:${path}`;
  };
  return {
    dir,
    issuer,
    token,
    file: (name) => `file:${join(dir, `${name}.token`)}`,
    revokedFile: `file:${revokedPath}`,
    issued,
    seedFile,
  };
}
