/** Manifest schema: defaults, and errors that name the field. */
import assert from "node:assert/strict";
import { parseManifest } from "../../../core/plugin/manifest.ts";
import { PluginError } from "../../../core/plugin/mod.ts";

const BASE = "id: my-plugin\nname: Mine\nversion: 1.2.3\nkind: trigger\n";

function fails(yaml: string, message: RegExp): void {
  assert.throws(() => parseManifest(yaml, "plugin.yaml"), (err: unknown) => {
    assert.ok(err instanceof PluginError);
    assert.equal(err.code, "invalid_manifest");
    assert.match(err.message, message);
    return true;
  });
}

Deno.test("a minimal manifest gets every default", () => {
  const m = parseManifest(BASE, "plugin.yaml");
  assert.equal(m.entry, "mod.ts");
  assert.deepEqual(m.permissions, { read: [], write: [], net: [], env: [], run: [], sys: [] });
  assert.deepEqual(m.limits, { timeout_ms: 30_000, memory_mb: 128, max_output_bytes: 1048576 });
  assert.deepEqual(m.config, {});
});

Deno.test("bad fields are named: id, version, kind, limits, permissions, unknown keys", () => {
  fails(BASE.replace("my-plugin", "My_Plugin"), /plugin\.yaml: id: must match/);
  fails(BASE.replace("1.2.3", "'1.2'"), /version: must be a semantic version/);
  fails(BASE.replace("trigger", "daemon"), /kind:/);
  fails(BASE + "limits:\n  timeout_ms: 0\n", /limits\.timeout_ms/);
  fails(BASE + "limits:\n  memory_mb: 100000\n", /limits\.memory_mb/);
  fails(
    BASE + "permissions:\n  read: ['/tmp,/etc']\n",
    /permissions\.read\.0: must not contain a comma/,
  );
  fails(BASE + "permissions:\n  sys: [everything]\n", /permissions\.sys\.0/);
  fails(BASE + "permissions:\n  network: true\n", /permissions/);
  fails(BASE + "sandbox: off\n", /sandbox|Unrecognized/);
  fails(
    BASE + "config:\n  x:\n    type: string\n    pattern: '('\n",
    /config\.x\.pattern: bad regex/,
  );
  fails(
    BASE + "config:\n  x:\n    type: number\n    minimum: 5\n    maximum: 1\n",
    /minimum > maximum/,
  );
  // A config reference to no declared field could never be set: it would grant nothing.
  fails(
    BASE +
      "config:\n  urls: {type: array, items: string}\npermissions:\n  net: ['${config.ulrs}']\n",
    /permissions\.net\.0: \$\{config\.ulrs\} names no field declared under config/,
  );
  fails(
    BASE + "permissions:\n  write: ['${config.out_dir}']\n",
    /permissions\.write\.0: .*declare config\.out_dir/,
  );
  fails("id: [", /not valid YAML/);
  fails("- a\n- b\n", /expected a mapping/);
});
