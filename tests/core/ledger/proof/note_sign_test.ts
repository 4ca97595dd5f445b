import assert from "node:assert/strict";
import { generateKeyPair, sign } from "../../../../core/crypto/mod.ts";
import {
  formatCheckpoint,
  formatVkey,
  loadSignNow,
  signNote,
  signNow,
} from "../../../../core/ledger/proof/note.ts";
import { refOpenCheckpoint } from "../rfc6962_reference.ts";

const enc = new TextEncoder();

Deno.test("signNow produces WebCrypto's Ed25519 signature bytes, once loaded", async () => {
  const kp = await generateKeyPair();
  await loadSignNow();
  for (const text of ["", "a\n", "origin\n42\n" + "A".repeat(43) + "=\n", "\u00e9\u{1F600}\n"]) {
    const fast = signNow(kp.privateKey, enc.encode(text));
    assert.ok(fast);
    assert.deepEqual(fast, await sign(kp.privateKey, text));
  }
  assert.equal(signNow(kp.publicKey, enc.encode("a\n")), undefined, "a public key cannot sign");
});

Deno.test("signNote output verifies independently, extractable key or not", async () => {
  const kp = await generateKeyPair();
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", kp.privateKey));
  const sealed = await crypto.subtle.importKey("pkcs8", pkcs8, "Ed25519", false, ["sign"]);
  const body = formatCheckpoint({ origin: "o", treeSize: 3, rootHash: new Uint8Array(32) });
  const vkey = formatVkey("o", kp.publicRaw);
  for (const privateKey of [kp.privateKey, sealed]) {
    const note = await signNote(body, { name: "o", privateKey, publicRaw: kp.publicRaw });
    const opened = await refOpenCheckpoint(note, vkey);
    assert.equal(opened?.size, 3);
  }
});
