/**
 * `iatp sidecar verify-attestation URL`: fetches an attestation (from the URL, or from
 * `<URL>/.well-known/agent-attestation` when given a base URL), takes the public key from
 * `--public-key` or the same origin's signed manifest, and checks signature, key id, time
 * window and that `config_hash` is the SHA-256 of the manifest actually served.
 * Exit 0 when valid, 1 when not, 2 on usage errors.
 * @module
 */
import { parseArgs } from "node:util";
import { sha256Hex, verify } from "../../core/crypto/mod.ts";
import { decodeBase64 } from "../../core/encoding/mod.ts";
import { CheckFailedError, UsageError } from "../../core/errors/mod.ts";
import { parseVerificationKey, verifyAttestation } from "../../core/trust/mod.ts";
import { print } from "../shared.ts";

/** Usage of the sub-verb. */
export const VERIFY_USAGE =
  `Usage: iatp sidecar verify-attestation URL [--public-key ed25519:BASE64] [--timeout-ms N]

Checks an IATP attestation: Ed25519 signature over "agent_id:codebase_hash:config_hash:timestamp",
signing_key_id, expiry, and that config_hash is the SHA-256 of the served manifest (whose own
X-IATP-Signature must verify). Without --public-key the key comes from the manifest.
Exit 0 valid, 1 invalid or unreachable, 2 usage.`;

const WELL_KNOWN = "/.well-known/agent-attestation";

async function getJson(
  url: string,
  timeoutMs: number,
): Promise<{ body: unknown; text: string; res: Response }> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new CheckFailedError(`cannot fetch ${url}: ${(err as Error).message}`);
  }
  const text = await res.text();
  if (!res.ok) throw new CheckFailedError(`${url} answered ${res.status}`);
  try {
    return { body: JSON.parse(text), text, res };
  } catch {
    throw new CheckFailedError(`${url} did not return JSON`);
  }
}

/** Runs the sub-verb; returns the exit code (throws CheckFailedError / UsageError otherwise). */
export async function verifyAttestationCommand(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        "public-key": { type: "string" },
        "timeout-ms": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: true,
    });
  } catch (err) {
    throw new UsageError((err as Error).message.split("\n")[0], VERIFY_USAGE);
  }
  if (parsed.values.help) {
    print(VERIFY_USAGE);
    return 0;
  }
  if (parsed.positionals.length !== 1) {
    throw new UsageError("expected exactly one URL", VERIFY_USAGE);
  }
  const timeoutMs = Number(parsed.values["timeout-ms"] ?? 10_000);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
    throw new UsageError("--timeout-ms must be a positive integer", VERIFY_USAGE);
  }
  let target: URL;
  try {
    target = new URL(parsed.positionals[0]);
  } catch {
    throw new UsageError(`not a URL: ${parsed.positionals[0]}`, VERIFY_USAGE);
  }
  if (!target.pathname.endsWith(WELL_KNOWN)) target = new URL(WELL_KNOWN, target);
  const manifestUrl = new URL("/.well-known/agent-manifest", target).toString();
  const [att, manifest] = await Promise.all([
    getJson(target.toString(), timeoutMs),
    getJson(manifestUrl, timeoutMs),
  ]);
  const key = await resolveKey(parsed.values["public-key"], manifest);
  const result = await verifyAttestation(att.body, key, {
    configHash: sha256Hex(manifest.text),
  });
  if (!result.ok) throw new CheckFailedError(`attestation invalid: ${result.reason}`);
  const a = att.body as Record<string, string>;
  print(
    JSON.stringify({
      valid: true,
      agent_id: a.agent_id,
      codebase_hash: a.codebase_hash,
      config_hash: a.config_hash,
      signing_key_id: a.signing_key_id,
      expires_at: a.expires_at,
    }),
  );
  return 0;
}

/** The key to trust: pinned by flag, else the manifest's own key once its signature verifies. */
async function resolveKey(
  pinned: string | undefined,
  manifest: { body: unknown; text: string; res: Response },
): Promise<Uint8Array> {
  const identity = (manifest.body as { identity?: { verification_key?: unknown } })?.identity;
  const served = typeof identity?.verification_key === "string"
    ? parseVerificationKey(identity.verification_key)
    : undefined;
  const key = pinned !== undefined ? parseVerificationKey(pinned) : served;
  if (!key) {
    if (pinned !== undefined) {
      throw new UsageError("--public-key is not ed25519:<base64 of 32 bytes>", VERIFY_USAGE);
    }
    throw new CheckFailedError("the manifest carries no identity.verification_key");
  }
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
