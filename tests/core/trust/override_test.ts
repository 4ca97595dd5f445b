import assert from "node:assert/strict";
import { createOverridePolicy } from "../../../core/trust/mod.ts";
import { overrideTokenWeakness } from "../../../core/trust/override.ts";

const GOOD = "Zq8-vX2pLm7rT4wK";

Deno.test("weak override secrets are rejected with a reason", () => {
  for (
    const weak of [
      "true",
      "yes",
      "1",
      "admin",
      "short-but-ok?",
      "aaaaaaaaaaaaaaaaaaaa",
      "passwordpassword",
      "abcabcabcabcabcabc",
      "CHANGEME-2024!!!!",
      "secret_secret_1234",
    ]
  ) {
    assert.ok(overrideTokenWeakness(weak), weak);
  }
  assert.equal(overrideTokenWeakness(GOOD), undefined);
});

Deno.test("token mode: only the exact secret approves; 'true' does not", () => {
  const p = createOverridePolicy({ token: GOOD });
  assert.equal(p.mode, "token");
  assert.equal(p.accepts(GOOD), true);
  assert.equal(p.accepts(GOOD + "x"), false);
  assert.equal(p.accepts(GOOD.slice(0, -1)), false);
  assert.equal(p.accepts("true"), false);
  assert.equal(p.accepts(undefined), false);
  assert.equal(p.accepts(""), false);
});

Deno.test("a weak or missing secret disables overrides and says why", () => {
  const weak = createOverridePolicy({ token: "password" });
  assert.equal(weak.mode, "disabled");
  assert.equal(weak.accepts("password"), false);
  assert.match(weak.notices.map((n) => n.msg).join(" "), /override disabled: .*shorter than 16/);
  const none = createOverridePolicy({});
  assert.equal(none.mode, "disabled");
  assert.equal(none.accepts("true"), false);
});

Deno.test("legacy mode accepts literal true, with a warning", () => {
  const p = createOverridePolicy({ legacy: true });
  assert.equal(p.accepts("true"), true);
  assert.equal(p.accepts("TRUE"), false);
  assert.ok(p.notices.some((n) => n.level === "warn" && /LEGACY/.test(n.msg)));
  const both = createOverridePolicy({ legacy: true, token: GOOD });
  assert.equal(both.accepts(GOOD), true);
  assert.equal(both.accepts("true"), true);
});
