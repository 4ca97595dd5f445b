/**
 * Checks another sidecar's attestation over HTTP: fetches it (from the URL, or from
 * `<URL>/.well-known/agent-attestation` when given a base URL), takes the public key pinned by
 * the caller or from the same origin's signed manifest (whose `X-IATP-Signature` must verify),
 * and checks signature, key id, time window and that `config_hash` is the SHA-256 of the
 * manifest actually served.
 * @module
 */
import { timeoutSignal } from "../async/mod.ts";
import { sha256Hex, verify } from "../crypto/mod.ts";
import { decodeBase64 } from "../encoding/mod.ts";
import { CheckFailedError, errorMessage } from "../errors/mod.ts";
import { readBody } from "../http/mod.ts";
import { parseVerificationKey, verifyAttestation } from "../trust/mod.ts";

/** Where an attestation is served. */
const ATTESTATION_PATH = "/.well-known/agent-attestation";
/** Largest attestation or manifest read from the remote sidecar. */
const MAX_ATTESTATION_BYTES = 1024 * 1024;

/** Options for {@linkcode checkRemoteAttestation}. */
export interface AttestationCheckOptions {
  /** The key to trust; unset: the served manifest's own key, once its signature verifies. */
  pinnedKey?: Uint8Array;
  /** Time allowed for each of the two fetches. */
  timeoutMs: number;
}

/** What a valid attestation says. */
export interface CheckedAttestation {
  valid: true;
  agent_id: string;
  codebase_hash: string;
  config_hash: string;
  signing_key_id: string;
  expires_at: string;
}

interface Fetched {
  body: unknown;
  text: string;
  res: Response;
}

async function getJson(url: string, timeoutMs: number): Promise<Fetched> {
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, { signal: timeoutSignal(timeoutMs) });
    text = new TextDecoder().decode(await readBody(res, { limit: MAX_ATTESTATION_BYTES }));
  } catch (err) {
    const why = errorMessage(err);
    throw new CheckFailedError(`cannot fetch ${url}: ${why}`, { cause: err });
  }
  if (!res.ok) throw new CheckFailedError(`${url} answered ${res.status}`);
  try {
    return { body: JSON.parse(text), text, res };
  } catch (err) {
    throw new CheckFailedError(`${url} did not return JSON`, { cause: err });
  }
}

/**
 * Fetches and checks the attestation at `url` (a sidecar's base URL or the attestation's own).
 *
 * @throws {CheckFailedError} when either document cannot be fetched or is not JSON, the
 * manifest's signature does not verify, or the attestation is invalid (the message says why)
 * @example
 * ```ts
 * const a = await checkRemoteAttestation(new URL("http://127.0.0.1:8001"), { timeoutMs: 5000 });
 * console.log(a.agent_id, a.expires_at);
 * ```
 */
export async function checkRemoteAttestation(
  url: URL,
  opts: AttestationCheckOptions,
): Promise<CheckedAttestation> {
  const target = url.pathname.endsWith(ATTESTATION_PATH) ? url : new URL(ATTESTATION_PATH, url);
  const manifestUrl = new URL("/.well-known/agent-manifest", target).toString();
  const [att, manifest] = await Promise.all([
    getJson(target.toString(), opts.timeoutMs),
    getJson(manifestUrl, opts.timeoutMs),
  ]);
  const key = await trustedKey(opts.pinnedKey, manifest);
  const result = await verifyAttestation(att.body, key, {
    configHash: sha256Hex(manifest.text),
  });
  if (!result.ok) throw new CheckFailedError(`attestation invalid: ${result.reason}`);
  const a = att.body as Record<string, string>;
  return {
    valid: true,
    agent_id: a.agent_id,
    codebase_hash: a.codebase_hash,
    config_hash: a.config_hash,
    signing_key_id: a.signing_key_id,
    expires_at: a.expires_at,
  };
}

/** The key to trust: the pinned one, else the manifest's own; its signature must verify. */
async function trustedKey(pinned: Uint8Array | undefined, manifest: Fetched): Promise<Uint8Array> {
  const identity = (manifest.body as { identity?: { verification_key?: unknown } })?.identity;
  const served = typeof identity?.verification_key === "string"
    ? parseVerificationKey(identity.verification_key)
    : undefined;
  const key = pinned ?? served;
  if (!key) throw new CheckFailedError("the manifest carries no identity.verification_key");
  const sig = manifest.res.headers.get("x-iatp-signature");
  let sigBytes: Uint8Array | undefined;
  try {
    sigBytes = sig ? decodeBase64(sig) : undefined;
  } catch {
    sigBytes = undefined;
  }
  if (!sigBytes || !await verify(key, sigBytes, manifest.text)) {
    throw new CheckFailedError("manifest X-IATP-Signature missing or does not verify");
  }
  return key;
}
