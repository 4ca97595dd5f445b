/**
 * `iatp sidecar verify-attestation URL`: parses the sub-verb's flags and prints the checked
 * attestation (core/sidecar does the check). Exit 0 when valid, 1 when not, 2 on usage errors.
 * @module
 */
import { defineConfig, duration, str } from "../../core/config/mod.ts";
import { UsageError } from "../../core/errors/mod.ts";
import { checkRemoteAttestation } from "../../core/sidecar/mod.ts";
import { parseVerificationKey } from "../../core/trust/mod.ts";
import type { Command } from "../command.ts";
import { print } from "../shared.ts";

/** The sub-verb's flags. */
const verifySpec = defineConfig({
  command: "sidecar verify-attestation",
  summary: 'Checks an IATP attestation: Ed25519 signature over "agent_id:codebase_hash:' +
    'config_hash:timestamp", signing_key_id, expiry, and that config_hash is the SHA-256 of the ' +
    "served manifest (whose own X-IATP-Signature must verify). Without --public-key the key " +
    "comes from the manifest. Exit 0 valid, 1 invalid or unreachable, 2 usage.",
  usageLines: ["URL [--public-key ed25519:BASE64] [--timeout DURATION]"],
  positionals: true,
  fields: {
    public_key: str({ help: "pin the signing key: ed25519:<base64 of 32 bytes>" }),
    timeout: duration({ help: "timeout of each request", default: 10_000, min: 1 }),
  },
  deprecated: { flags: { timeout: { name: "timeout-ms", unit: "ms" } } },
});

/** Usage of the sub-verb. */
export const VERIFY_USAGE = verifySpec.usage();

/** The sub-verb, with its spec (for help, docs and `iatp config`). */
export const verifyAttestation: Command = {
  spec: verifySpec,
  usage: () => VERIFY_USAGE,
  run: verifyAttestationCommand,
};

/**
 * Runs the sub-verb; returns the exit code.
 * @throws {UsageError} on unknown flags, a missing URL or a malformed key
 * @throws {ConfigError} on a malformed timeout
 * @throws {CheckFailedError} when the attestation cannot be fetched or does not verify
 */
export async function verifyAttestationCommand(argv: string[]): Promise<number> {
  const loaded = await verifySpec.parse(argv);
  if (loaded.help) {
    print(VERIFY_USAGE);
    return 0;
  }
  if (loaded.positionals.length !== 1) {
    throw new UsageError("expected exactly one URL", VERIFY_USAGE);
  }
  let url: URL;
  try {
    url = new URL(loaded.positionals[0]);
  } catch (err) {
    throw new UsageError(`not a URL: ${loaded.positionals[0]}`, VERIFY_USAGE, { cause: err });
  }
  const pinned = loaded.config.public_key;
  const pinnedKey = pinned === undefined ? undefined : parseVerificationKey(pinned);
  if (pinned !== undefined && !pinnedKey) {
    throw new UsageError("--public-key is not ed25519:<base64 of 32 bytes>", VERIFY_USAGE);
  }
  const timeoutMs = loaded.config.timeout;
  print(JSON.stringify(await checkRemoteAttestation(url, { pinnedKey, timeoutMs })));
  return 0;
}
