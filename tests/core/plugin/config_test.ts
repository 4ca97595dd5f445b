/** Plugin config validation: defaults, constraints, unknown keys, secrets. */
import assert from "node:assert/strict";
import { parseManifest } from "../../../core/plugin/manifest.ts";
import { validatePluginConfig } from "../../../core/plugin/mod.ts";
import { secretValues } from "../../../core/plugin/config.ts";

const m = parseManifest(
  `id: cfg
name: Cfg
version: 0.1.0
kind: action
config:
  threshold: {type: number, minimum: 0, maximum: 100, default: 80}
  count: {type: integer, default: 1}
  manager: {type: string, enum: [systemctl, docker], default: systemctl}
  name: {type: string, pattern: "^[a-z]+$", max_length: 5}
  urls: {type: array, items: string, max_items: 2, pattern: "^https?://"}
  api_key: {type: string}
  password: {type: string, secret: false}
  webhook: {type: string, secret: true}
  flag: {type: boolean, required: true}
`,
  "plugin.yaml",
);

function fails(config: Record<string, unknown>, message: RegExp): void {
  assert.throws(() => validatePluginConfig(m, config), (err: unknown) => {
    assert.equal((err as { code?: string }).code, "invalid_config");
    assert.match((err as Error).message, message);
    return true;
  });
}

Deno.test("defaults are applied and given values kept", () => {
  assert.deepEqual(validatePluginConfig(m, { flag: true, count: 3 }), {
    threshold: 80,
    count: 3,
    manager: "systemctl",
    flag: true,
  });
});

Deno.test("each constraint names the field, what was expected and what was found", () => {
  fails({ flag: true, threshold: 101 }, /config\.threshold: expected <= 100, found number 101/);
  fails(
    { flag: true, threshold: "high" },
    /config\.threshold: expected a number, found string "high"/,
  );
  fails({ flag: true, count: 1.5 }, /config\.count: expected an integer/);
  fails({ flag: true, manager: "bash" }, /config\.manager: expected one of "systemctl", "docker"/);
  fails({ flag: true, name: "ABC" }, /config\.name: expected a string matching/);
  fails({ flag: true, name: "abcdefg" }, /config\.name: expected at most 5 characters/);
  fails({ flag: true, urls: ["ftp://x"] }, /config\.urls\[0\]: expected a string matching/);
  fails(
    { flag: true, urls: ["http://a", "http://b", "http://c"] },
    /config\.urls: expected at most 2 items/,
  );
  fails({}, /config\.flag: expected a boolean \(required\)/);
  fails(
    { flag: true, treshold: 5 },
    /config\.treshold: unknown field \(plugin cfg declares: threshold/,
  );
});

Deno.test("secretValues: declared secrets and sensitive names, not secret: false on a plain name", () => {
  const c = validatePluginConfig(m, {
    flag: true,
    api_key: "k-123456",
    webhook: "https://h/s3cr3t",
    password: "pw-1234",
    name: "ab",
  });
  assert.deepEqual(secretValues(m, c).sort(), ["https://h/s3cr3t", "k-123456", "pw-1234"].sort());
});
