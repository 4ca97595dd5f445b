/**
 * The compile check's look at a binary's file table (scripts/compile_check.ts): every module the
 * product loads by a computed specifier, which `deno compile` does not follow, must be there.
 */
import assert from "node:assert/strict";
import { embeddedPaths, lateTargets, missingLateModules } from "../scripts/compile_check.ts";

Deno.test("the compile check knows every module loaded late by a string, not only the drivers", async () => {
  const targets = await lateTargets();
  for (
    const p of [
      "core/engine/postgres_driver.ts",
      // The vendored client the driver re-exports: deno compile follows no computed specifier.
      "core/engine/vendor/postgres/src/index.js",
      "core/engine/redis_driver.ts",
      "core/ledger/pg_ledger.ts",
      "core/ledger/pg_verify.ts",
      "core/ledger/verify.ts",
      "core/ledger/monitor.ts",
      "core/relay/client/mod.ts",
      "core/http/client/mod.ts",
      "core/config/yaml.ts",
      "cmd/sidecar/manifest_file.ts",
    ]
  ) assert.ok(targets.includes(p), `${p} in ${targets.join(" ")}`);
  // Built-in modules (node:sqlite) are not files of the checkout.
  assert.ok(targets.every((p) => /^(core|cmd|plugins)\/.+\.(ts|tsx|js)$/.test(p)), targets.join());
  for (const p of targets) await Deno.stat(new URL(`../${p}`, import.meta.url));
});

/** A binary-like blob: bytes, then the file table of `tree`, then more bytes. */
function binaryWith(tree: unknown): Uint8Array {
  const junk = '\x00\x7fELF{"Dir":{"n":"core","e":[ not json \x00';
  return new TextEncoder().encode(`${junk}${JSON.stringify(tree)}\x00\xff${junk}`);
}

Deno.test("the compile check lists a late-loaded module the binary's file table lacks", async () => {
  const file = (n: string) => ({ File: { n, o: [1, 2], u: true } });
  const dir = (n: string, e: unknown[]) => ({ Dir: { n, e } });
  // A binary built without core/ledger's late modules (an --include narrower than core/).
  const blob = binaryWith(
    dir("core", [
      dir("engine", [file("postgres_driver.ts"), file("redis_driver.ts"), file("mod.ts")]),
      dir("ledger", [file("mod.ts")]),
    ]),
  );
  const have = embeddedPaths(blob);
  assert.ok(have.has("core/engine/postgres_driver.ts"));
  assert.ok(have.has("core/ledger/mod.ts"));
  assert.ok(!have.has("core/ledger/monitor.ts"));
  const missing = await missingLateModules(blob);
  assert.ok(missing.includes("core/ledger/monitor.ts"), missing.join(" "));
  assert.ok(missing.includes("core/ledger/verify.ts"), missing.join(" "));
  assert.ok(!missing.includes("core/engine/postgres_driver.ts"));
  assert.ok(!missing.includes("core/engine/mod.ts"));
});
