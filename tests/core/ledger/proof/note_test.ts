import assert from "node:assert/strict";
import { generateKeyPair } from "../../../../core/crypto/mod.ts";
import {
  formatCheckpoint,
  formatVkey,
  noteSignedBy,
  openCheckpoint,
  parseCheckpoint,
  parseNote,
  parseVkey,
  signNote,
} from "../../../../core/ledger/proof/note.ts";
import { refOpenCheckpoint } from "../rfc6962_reference.ts";

// The example from golang.org/x/mod/sumdb/note, an independent signed-note implementation.
const GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const GO_NOTE = "If you think cryptography is the answer to your problem,\n" +
  "then you don't know what your problem is.\n" +
  "\n" +
  "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

Deno.test("interoperates with the Go sumdb note example (key id and signature)", async () => {
  const v = parseVkey(GO_VKEY);
  assert.ok(v, "vkey parses and its key id matches");
  assert.equal(formatVkey(v.name, v.publicRaw), GO_VKEY);
  const note = parseNote(GO_NOTE);
  assert.ok(note);
  assert.ok(await noteSignedBy(note, v));
  const tampered = parseNote(GO_NOTE.replace("cryptography", "Cryptography"))!;
  assert.ok(!(await noteSignedBy(tampered, v)));
});

Deno.test("checkpoints sign and verify, also by the independent test verifier", async () => {
  const kp = await generateKeyPair();
  const origin = "example.test/log";
  const root = crypto.getRandomValues(new Uint8Array(32));
  const body = formatCheckpoint({ origin, treeSize: 42, rootHash: root });
  assert.deepEqual(parseCheckpoint(body), { origin, treeSize: 42, rootHash: root });
  const note = await signNote(body, { name: origin, ...kp });
  const vkey = formatVkey(origin, kp.publicRaw);
  const opened = await openCheckpoint(note, parseVkey(vkey));
  assert.ok(!("reason" in opened));
  const ref = await refOpenCheckpoint(note, vkey);
  assert.equal(ref?.size, 42);
  const other = await generateKeyPair();
  const wrong = await openCheckpoint(note, { name: origin, publicRaw: other.publicRaw });
  assert.ok("reason" in wrong);
  assert.ok("reason" in await openCheckpoint(note.replace("\n42\n", "\n43\n"), parseVkey(vkey)));
});

Deno.test("malformed notes, checkpoints and vkeys are rejected", () => {
  assert.equal(parseNote("no signature\n"), undefined);
  assert.equal(parseNote("body\n\nnot a sig line\n"), undefined);
  assert.equal(parseCheckpoint("origin\n-1\nAAAA\n"), undefined);
  assert.equal(parseCheckpoint("origin\n01\nAAAA\n"), undefined);
  assert.equal(parseVkey("name+00000000+AAAA"), undefined);
  assert.equal(parseVkey(GO_VKEY.replace("c74f20a3", "c74f20a4")), undefined);
});
