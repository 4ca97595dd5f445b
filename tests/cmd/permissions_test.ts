import assert from "node:assert/strict";
import { COMMANDS } from "../../cmd/mod.ts";
import { envGranted, grantsOf, parsePermissionTable, PERMISSIONS } from "../../cmd/permissions.ts";

Deno.test("every subcommand has exactly one line in the permission table", () => {
  for (const c of COMMANDS) assert.ok(PERMISSIONS.has(c.name), `no permissions for ${c.name}`);
  const text = Deno.readTextFileSync(new URL("../../cmd/permissions.txt", import.meta.url));
  const names = text.split("\n").filter((l) => l.trim() && !l.startsWith("#")).map((l) =>
    l.split(/\s+/)[0]
  );
  assert.equal(new Set(names).size, names.length, "duplicate lines");
});

Deno.test("no subcommand gets --allow-all, ffi, or unrestricted write", () => {
  for (const [name, flags] of PERMISSIONS) {
    assert.ok(!flags.includes("--allow-all") && !flags.includes("-A"), name);
    assert.equal(grantsOf(flags, "ffi"), "none", name);
    assert.notEqual(grantsOf(flags, "write"), "all", `${name} may write anywhere`);
    assert.notEqual(grantsOf(flags, "run"), "all", `${name} may run anything`);
  }
  assert.deepEqual(PERMISSIONS.get("help"), []);
});

Deno.test("every env var a service reads is granted to it", async () => {
  for (const entry of COMMANDS) {
    const flags = PERMISSIONS.get(entry.name)!;
    const command = await entry.load() as { spec?: { envNames(): string[] } };
    if (!command.spec) continue;
    for (const name of command.spec.envNames()) {
      assert.ok(envGranted(flags, name), `${entry.name} reads ${name} but may not`);
    }
  }
});

Deno.test("table parsing handles comments, blanks and wildcards", () => {
  const t = parsePermissionTable("# c\n\nx --allow-env=A_*,B --allow-net\ny\n");
  assert.deepEqual(t.get("y"), []);
  assert.ok(envGranted(t.get("x")!, "A_ONE"));
  assert.ok(envGranted(t.get("x")!, "B"));
  assert.ok(!envGranted(t.get("x")!, "BB"));
  assert.equal(grantsOf(t.get("x")!, "net"), "all");
});

Deno.test("compiled mode revokes every category a subcommand's line does not grant", async () => {
  // A child process so the revocation does not affect this test runner.
  const code = `
    import { narrowToSubcommand, parsePermissionTable } from "${
    new URL("../../cmd/permissions.ts", import.meta.url).href
  }";
    const t = parsePermissionTable("svc --allow-net --allow-env=X_*\\n");
    const revoked = narrowToSubcommand("svc", t);
    const q = (name) => Deno.permissions.querySync({ name }).state;
    console.log(JSON.stringify({ revoked, net: q("net"), read: q("read"), run: q("run") }));
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", code],
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const r = JSON.parse(text);
  assert.deepEqual(r.revoked, ["read", "write", "run", "sys", "ffi"]);
  assert.equal(r.net, "granted");
  assert.equal(r.read, "prompt");
  assert.equal(r.run, "prompt");
});
