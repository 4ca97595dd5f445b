/**
 * A credential has one text: a copy whose last base64url character differs only in the bits the
 * encoding leaves spare decodes to the same bytes, and a service refuses it (401) rather than
 * taking it as the same credential under a second text. Against a real relay process.
 */
import assert from "node:assert/strict";
import { generateIssuer, issueCredential } from "../../core/auth/mod.ts";
import { startIatpService, tempDir } from "../helpers.ts";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** The same text with its last character's spare low bits set (same decoded bytes). */
function spareBitsSet(text: string, spareBits: number): string {
  const last = ALPHABET.indexOf(text.at(-1)!);
  return text.slice(0, -1) + ALPHABET[last | ((1 << spareBits) - 1)];
}

Deno.test("credential text: a variant in base64url's spare bits is refused", async () => {
  const dir = await tempDir();
  const issuer = await generateIssuer();
  await Deno.writeTextFile(`${dir.path}/issuer.pub`, `${issuer.publicKey}\n`);
  const relay = await startIatpService(
    ["relay", "--port", "19483", "--auth-keys", `file:${dir.path}/issuer.pub`],
    { env: { IATP_DATA_DIR: dir.path } },
  );
  const publish = async (token: string) => {
    const res = await fetch(`${relay.url}/publish`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ topic: "sensor.cpu", payload: { v: 1 } }),
    });
    return { status: res.status, body: await res.text() };
  };
  try {
    const token = await issueCredential(issuer, { sub: "sensor-1", scopes: ["publish:sensor.*"] });
    assert.equal((await publish(token)).status, 200);
    // A 64-byte signature is 86 characters: 516 bits for 512, so 4 spare bits at the end.
    const variant = spareBitsSet(token, 4);
    assert.notEqual(variant, token);
    const refused = await publish(variant);
    assert.equal(refused.status, 401, refused.body);
    assert.equal(JSON.parse(refused.body).reason, "unauthenticated");
    assert.ok(!refused.body.includes(variant.split(".")[2]), "the signature is not echoed");
  } finally {
    assert.equal((await relay.stop("SIGTERM")).code, 0, relay.stderr());
    await dir.remove();
  }
});
