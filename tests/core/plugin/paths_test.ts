/** Tests for path containment. @module */
import assert from "node:assert/strict";
import { isInside } from "../../../core/plugin/paths.ts";

Deno.test("isInside: the folder itself and what lies below it", () => {
  assert.equal(isInside("/srv/p", "/srv/p"), true);
  assert.equal(isInside("/srv/p", "/srv/p/"), true);
  assert.equal(isInside("/srv/p/", "/srv/p/mod.ts"), true);
  assert.equal(isInside("/srv/p", "/srv/p/a/b/c.ts"), true);
  assert.equal(isInside("/", "/etc/passwd"), true);
});

Deno.test("isInside: siblings sharing a prefix, parents and dot escapes are outside", () => {
  assert.equal(isInside("/srv/p", "/srv/pq"), false);
  assert.equal(isInside("/srv/p", "/srv"), false);
  assert.equal(isInside("/srv/p", "/srv/p/../q/x.ts"), false);
  assert.equal(isInside("/srv/p", "/srv/p/./a/../../p2"), false);
  assert.equal(isInside("/srv/p", "/srv/p/a/../b"), true, "dots that stay inside are fine");
});

Deno.test("isInside resolves relative paths against the working directory", () => {
  assert.equal(isInside(".", "./core/mod.ts"), true);
  assert.equal(isInside("core", "../elsewhere"), false);
});
