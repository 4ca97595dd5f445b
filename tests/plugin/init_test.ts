/**
 * `iatp plugin init DIR` through scripts/iatp, into a folder outside the checkout: each kind's
 * plugin type-checks there with nothing else installed, validates, and runs in the sandbox;
 * bad ids and non-empty folders are usage errors.
 */
import assert from "node:assert/strict";
import { standaloneSdk } from "../../core/plugin/mod.ts";
import { ROOT, runIatp, tempDir } from "../helpers.ts";

async function denoCheck(dir: string): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["check", "--quiet", "--no-config", "mod.ts"],
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("init: each kind type-checks outside the checkout, validates and runs", async () => {
  const tmp = await tempDir();
  try {
    const env = { IATP_ALLOW_READ: tmp.path, IATP_ALLOW_WRITE: tmp.path };
    for (
      const [kind, input] of [["trigger", undefined], ["action", '{"name":"ops"}'], [
        "output",
        '{"name":"ops"}',
      ]] as const
    ) {
      const dir = `${tmp.path}/new-${kind}`;
      const made = await runIatp(["plugin", "init", dir, "--kind", kind], { env });
      assert.equal(made.code, 0, made.stderr);
      assert.match(made.stdout, new RegExp(`created ${kind} plugin new-${kind}`));
      const checked = await denoCheck(dir);
      assert.equal(checked.code, 0, `${kind}: ${checked.stderr}`);
      const valid = await runIatp(["plugin", "validate", dir], { env });
      assert.equal(valid.code, 0, valid.stderr);
      const ran = await runIatp(["plugin", "run", dir, ...(input ? ["--input", input] : [])], {
        env,
      });
      assert.equal(ran.code, 0, ran.stderr);
      const r = JSON.parse(ran.stdout);
      assert.equal(r.ok, true, ran.stdout);
      if (kind === "trigger") assert.equal(r.value[0].type, "new-trigger.high");
      else assert.equal(r.value.message, "Hello, ops");
    }
  } finally {
    await tmp.remove();
  }
});

Deno.test("init: in the checkout's data folder, `deno check mod.ts` there checks the plugin", async () => {
  // The getting-started path: `scripts/iatp plugin init data/dev-plugins/...` from the checkout,
  // then `deno check mod.ts` in that folder, under the checkout's deno.json.
  await Deno.mkdir(`${ROOT}data`, { recursive: true });
  const parent = await Deno.makeTempDir({ dir: `${ROOT}data`, prefix: "init-check-" });
  try {
    const dir = `${parent}/my-check`;
    const made = await runIatp(["plugin", "init", dir], { cwd: ROOT });
    assert.equal(made.code, 0, made.stderr);
    const check = async () => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["check", "mod.ts"],
        cwd: dir,
        stdout: "piped",
        stderr: "piped",
      }).output();
      return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
    };
    const good = await check();
    assert.equal(good.code, 0, good.stderr);
    assert.doesNotMatch(good.stderr, /No matching files/, "mod.ts was checked, not left out");
    await Deno.writeTextFile(`${dir}/mod.ts`, 'export const broken: number = "not a number";\n', {
      append: true,
    });
    const bad = await check();
    assert.equal(bad.code, 1, `a type error in mod.ts is reported\n${bad.stderr}`);
    assert.match(bad.stderr, /TS2322/);
  } finally {
    await Deno.remove(parent, { recursive: true }).catch(() => {});
  }
});

Deno.test("init: a bad id or a non-empty folder is a usage error, and nothing is written", async () => {
  const tmp = await tempDir();
  try {
    const env = { IATP_ALLOW_READ: tmp.path, IATP_ALLOW_WRITE: tmp.path };
    const bad = await runIatp(["plugin", "init", `${tmp.path}/Bad_Name`], { env });
    assert.equal(bad.code, 2);
    assert.match(
      bad.stderr,
      /--id: expected a plugin id of 2 to 64 lowercase letters, digits and -, not starting with -, found "bad_name" \(the folder's name; pass --id\)/,
    );
    const short = await runIatp(["plugin", "init", `${tmp.path}/x`], { env });
    assert.equal(short.code, 2);
    assert.match(short.stderr, /--id: expected a plugin id of 2 to 64 .*, found "x"/);
    const kind = await runIatp(["plugin", "init", `${tmp.path}/x1`, "--kind", "daemon"], { env });
    assert.equal(kind.code, 2);
    assert.match(kind.stderr, /--kind: expected trigger\|action\|output/);
    await Deno.writeTextFile(`${tmp.path}/keep.txt`, "mine");
    const full = await runIatp(["plugin", "init", tmp.path, "--id", "fine-id"], { env });
    assert.equal(full.code, 2);
    assert.match(full.stderr, /is not empty/);
    for (const file of [`${tmp.path}/keep.txt`, `${tmp.path}/keep.txt/sub`]) {
      const r = await runIatp(["plugin", "init", file, "--id", "fine-id"], { env });
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stderr,
        /^iatp plugin: init: expected a new or empty folder, found .*keep\.txt/,
      );
    }
    const left = [...Deno.readDirSync(tmp.path)].map((e) => e.name);
    assert.deepEqual(left, ["keep.txt"], "refused inits create no folder and write no file");
  } finally {
    await tmp.remove();
  }
});

Deno.test("init's sdk.ts exports every type plugins/sdk.ts does, and stands alone", async () => {
  const sdk = standaloneSdk();
  assert.doesNotMatch(sdk, /^import /m, "no imports: it resolves without the repository");
  const repo = await Deno.readTextFile(`${ROOT}plugins/sdk.ts`);
  const names = /export type \{([^}]*)\}/.exec(repo)![1].split(",").map((s) => s.trim()).filter(
    Boolean,
  );
  for (const name of names) {
    assert.match(sdk, new RegExp(`export (type|interface) ${name}\\b`), name);
  }
});
