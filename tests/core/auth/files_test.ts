/** Credential files on disk: owner-only modes, no overwrite unless asked, atomic replacement. */
import assert from "node:assert/strict";
import { createIssuerFiles, readIssuerKey, writeSecretFile } from "../../../core/auth/files.ts";
import { CredentialError } from "../../../core/auth/settings/mod.ts";
import { tempDir } from "../../helpers.ts";

const modeOf = (path: string) => Deno.statSync(path).mode! & 0o777;

Deno.test("issuer files: 0600 key in a 0700 folder, read back, never overwritten by default", async () => {
  const tmp = await tempDir();
  try {
    const dir = `${tmp.path}/a/b`;
    const issuer = await createIssuerFiles(dir);
    assert.equal(modeOf(dir), 0o700);
    assert.equal(modeOf(`${dir}/issuer.key`), 0o600);
    assert.equal(Deno.readTextFileSync(`${dir}/issuer.pub`).trim(), issuer.publicKey);
    assert.equal((await readIssuerKey(`${dir}/issuer.key`)).publicKey, issuer.publicKey);
    await assert.rejects(createIssuerFiles(dir), Deno.errors.AlreadyExists);
    assert.equal((await readIssuerKey(`${dir}/issuer.key`)).publicKey, issuer.publicKey);
    const again = await createIssuerFiles(dir, { overwrite: true });
    assert.notEqual(again.publicKey, issuer.publicKey);
    Deno.writeTextFileSync(`${dir}/issuer.key`, "not a seed\n");
    await assert.rejects(readIssuerKey(`${dir}/issuer.key`), CredentialError);
  } finally {
    await tmp.remove();
  }
});

Deno.test("writeSecretFile: refuses an existing file; overwrite replaces it 0600, no temp left", async () => {
  const tmp = await tempDir();
  try {
    const path = `${tmp.path}/x.token`;
    Deno.writeTextFileSync(path, "old\n", { mode: 0o644 });
    Deno.chmodSync(path, 0o644);
    await assert.rejects(writeSecretFile(path, "new"), Deno.errors.AlreadyExists);
    assert.equal(Deno.readTextFileSync(path), "old\n");
    await writeSecretFile(path, "new", { overwrite: true });
    assert.equal(Deno.readTextFileSync(path), "new\n");
    assert.equal(modeOf(path), 0o600);
    assert.deepEqual([...Deno.readDirSync(tmp.path)].map((e) => e.name), ["x.token"]);
  } finally {
    await tmp.remove();
  }
});
