/**
 * Plugin signatures on real folders: a signed folder verifies; a changed, added or removed file,
 * a symlink, a wrong key, a forged signature or a missing/garbled plugin.sig each fail with the
 * reason named; `.git` and plugin.sig itself are outside the digest.
 */
import assert from "node:assert/strict";
import { generateIssuer } from "../../core/auth/mod.ts";
import {
  pluginDigest,
  PluginSignatureError,
  readSignature,
  signPlugin,
  verifyPlugin,
} from "../../core/plugin/mod.ts";
import { makePlugin, type TempPlugin } from "./plugin_helpers.ts";

const MOD = "export function execute() { return 1; }\n";

async function failure(p: Promise<unknown>): Promise<PluginSignatureError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof PluginSignatureError) return err;
    throw err;
  }
  throw new Error("expected a PluginSignatureError");
}

/** A signed plugin with a nested file, and its key. */
async function signed() {
  const key = await generateIssuer();
  const p = await makePlugin({ "mod.ts": MOD, "lib/util.ts": "export const x = 1;\n" });
  const sig = await signPlugin(p.dir, key);
  return { key, p, sig };
}

async function withSigned(fn: (s: Awaited<ReturnType<typeof signed>>) => Promise<void>) {
  const s = await signed();
  try {
    await fn(s);
  } finally {
    await s.p.remove();
  }
}

Deno.test("sign then verify: the key id, digest and file count come back", async () => {
  await withSigned(async ({ key, p, sig }) => {
    assert.equal(sig.key_id, key.kid);
    assert.equal(sig.files, 3);
    const onDisk = await readSignature(p.dir);
    assert.deepEqual(Object.keys(onDisk).sort(), [
      "algorithm",
      "digest",
      "format",
      "key_id",
      "signature",
    ]);
    const ok = await verifyPlugin(p.dir, [key.publicKey]);
    assert.deepEqual(ok, { keyId: key.kid, digest: sig.digest, files: 3 });
    // Signing again gives the same digest: plugin.sig is not part of what it covers.
    assert.equal((await signPlugin(p.dir, key)).digest, sig.digest);
  });
});

Deno.test("a changed, added or removed file is a digest mismatch", async () => {
  const cases: Array<[string, (p: TempPlugin) => Promise<void>]> = [
    ["changed", (p) => Deno.writeTextFile(`${p.dir}/mod.ts`, MOD + "// more\n")],
    ["added", (p) => Deno.writeTextFile(`${p.dir}/lib/extra.ts`, "export {};\n")],
    ["removed", (p) => Deno.remove(`${p.dir}/lib/util.ts`)],
    ["renamed", (p) => Deno.rename(`${p.dir}/lib/util.ts`, `${p.dir}/lib/util2.ts`)],
    ["same size, one byte", (p) => Deno.writeTextFile(`${p.dir}/mod.ts`, MOD.replace("1", "2"))],
  ];
  for (const [what, change] of cases) {
    await withSigned(async ({ key, p }) => {
      await change(p);
      const err = await failure(verifyPlugin(p.dir, [key.publicKey]));
      assert.equal(err.reason, "digest_mismatch", what);
      assert.match(err.message, /digest mismatch/);
    });
  }
});

Deno.test("a file name in another normalization or case is another file; one not UTF-8 is refused", async () => {
  const renames: Array<[string, string]> = [
    ["caf\u00e9.txt", "cafe\u0301.txt"],
    ["caf\u00e9.txt", "CAF\u00c9.txt"],
  ];
  for (const [from, to] of renames) {
    await withSigned(async ({ key, p }) => {
      await Deno.writeTextFile(`${p.dir}/lib/${from}`, "x");
      await signPlugin(p.dir, key);
      await Deno.rename(`${p.dir}/lib/${from}`, `${p.dir}/lib/${to}`);
      const err = await failure(verifyPlugin(p.dir, [key.publicKey]));
      assert.equal(err.reason, "digest_mismatch", to);
    });
  }
  await withSigned(async ({ key, p }) => {
    // Deno reads the byte 0xff of a name as U+FFFD, a name that opens no file.
    const made = await new Deno.Command("sh", {
      args: ["-c", 'printf x > "$1/$(printf "a\\377\\033[2K.ts")"', "sh", `${p.dir}/lib`],
    }).output();
    assert.ok(made.success);
    for (
      const err of [
        await failure(signPlugin(p.dir, key)),
        await failure(verifyPlugin(p.dir, [key.publicKey])),
      ]
    ) {
      assert.equal(err.reason, "unsupported_file");
      assert.equal(
        err.message,
        "a file name that is not UTF-8: lib/a\uFFFD\\u001b[2K.ts (rename it)",
      );
    }
  });
});

Deno.test("a symlink is refused when verifying and when signing", async () => {
  await withSigned(async ({ key, p }) => {
    await Deno.symlink("/etc/hostname", `${p.dir}/lib/link`);
    const err = await failure(verifyPlugin(p.dir, [key.publicKey]));
    assert.equal(err.reason, "unsupported_file");
    assert.match(err.message, /symlinks are not allowed: lib\/link/);
    assert.equal((await failure(signPlugin(p.dir, key))).reason, "unsupported_file");
  });
  await withSigned(async ({ key, p }) => {
    // plugin.sig itself as a symlink to a valid signature is refused too.
    await Deno.rename(`${p.dir}/plugin.sig`, `${p.root}/real.sig`);
    await Deno.symlink(`${p.root}/real.sig`, `${p.dir}/plugin.sig`);
    assert.equal((await failure(verifyPlugin(p.dir, [key.publicKey]))).reason, "unsupported_file");
  });
});

Deno.test("a wrong key is unknown; a forged signature is bad; no key list trusts nothing", async () => {
  await withSigned(async ({ key, p, sig }) => {
    const other = await generateIssuer();
    const unknown = await failure(verifyPlugin(p.dir, [other.publicKey]));
    assert.equal(unknown.reason, "unknown_key");
    assert.match(unknown.message, new RegExp(key.kid));
    assert.equal((await failure(verifyPlugin(p.dir, []))).reason, "unknown_key");
    // Re-signed by another key but claiming the trusted key's id: the signature does not verify.
    const forged = await signPlugin(p.dir, other);
    await Deno.writeTextFile(
      `${p.dir}/plugin.sig`,
      JSON.stringify({ ...forged, key_id: key.kid, files: undefined }),
    );
    assert.equal((await failure(verifyPlugin(p.dir, [key.publicKey]))).reason, "bad_signature");
    // The trusted signature with another digest put in: bad signature, not a mismatch.
    await Deno.writeTextFile(
      `${p.dir}/plugin.sig`,
      JSON.stringify({ ...sig, files: undefined, digest: `sha256:${"0".repeat(64)}` }),
    );
    assert.equal((await failure(verifyPlugin(p.dir, [key.publicKey]))).reason, "bad_signature");
  });
});

Deno.test("no plugin.sig is unsigned; a garbled one is malformed", async () => {
  await withSigned(async ({ key, p }) => {
    for (const text of ["not json", "{}", '{"format":"iatp-plugin-sig-v1"}', "x".repeat(5000)]) {
      await Deno.writeTextFile(`${p.dir}/plugin.sig`, text);
      assert.equal((await failure(verifyPlugin(p.dir, [key.publicKey]))).reason, "malformed");
    }
    await Deno.remove(`${p.dir}/plugin.sig`);
    const err = await failure(verifyPlugin(p.dir, [key.publicKey]));
    assert.equal(err.reason, "unsigned");
  });
});

Deno.test("the digest skips .git, depends on names and content, and honours its bounds", async () => {
  const p = await makePlugin({ "mod.ts": MOD, "b.ts": "b", "a.ts": "a" });
  try {
    const before = await pluginDigest(p.dir);
    await Deno.mkdir(`${p.dir}/.git`);
    await Deno.writeTextFile(`${p.dir}/.git/HEAD`, "ref: refs/heads/main\n");
    assert.deepEqual(await pluginDigest(p.dir), before);
    // Moving content between names changes the digest even though the bytes are the same.
    await Deno.writeTextFile(`${p.dir}/a.ts`, "b");
    await Deno.writeTextFile(`${p.dir}/b.ts`, "a");
    assert.notEqual((await pluginDigest(p.dir)).digest, before.digest);
    assert.equal((await failure(pluginDigest(p.dir, { maxFiles: 2 }))).reason, "too_large");
    assert.equal((await failure(pluginDigest(p.dir, { maxBytes: 10 }))).reason, "too_large");
  } finally {
    await p.remove();
  }
});
