/**
 * `iatp sidecar verify-attestation URL`: parses the sub-verb's flags and prints the checked
 * attestation (core/sidecar does the check). Exit 0 when valid, 1 when not, 2 on usage errors.
 * @module
 */
import { parseArgs } from "node:util";
import { UsageError } from "../../core/errors/mod.ts";
import { checkRemoteAttestation } from "../../core/sidecar/mod.ts";
import { parseVerificationKey } from "../../core/trust/mod.ts";
import { print } from "../shared.ts";

/** Usage of the sub-verb. */
export const VERIFY_USAGE =
  `Usage: iatp sidecar verify-attestation URL [--public-key ed25519:BASE64] [--timeout-ms N]

Checks an IATP attestation: Ed25519 signature over "agent_id:codebase_hash:config_hash:timestamp",
signing_key_id, expiry, and that config_hash is the SHA-256 of the served manifest (whose own
X-IATP-Signature must verify). Without --public-key the key comes from the manifest.
Exit 0 valid, 1 invalid or unreachable, 2 usage.`;

/**
 * Runs the sub-verb; returns the exit code.
 * @throws {UsageError} on unknown flags, a missing URL or a malformed key or timeout
 * @throws {CheckFailedError} when the attestation cannot be fetched or does not verify
 */
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
    const msg = err instanceof Error ? err.message.split("\n")[0] : String(err);
    throw new UsageError(msg, VERIFY_USAGE, { cause: err });
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
  let url: URL;
  try {
    url = new URL(parsed.positionals[0]);
  } catch (err) {
    throw new UsageError(`not a URL: ${parsed.positionals[0]}`, VERIFY_USAGE, { cause: err });
  }
  const pinned = parsed.values["public-key"];
  const pinnedKey = pinned === undefined ? undefined : parseVerificationKey(pinned);
  if (pinned !== undefined && !pinnedKey) {
    throw new UsageError("--public-key is not ed25519:<base64 of 32 bytes>", VERIFY_USAGE);
  }
  print(JSON.stringify(await checkRemoteAttestation(url, { pinnedKey, timeoutMs })));
  return 0;
}
