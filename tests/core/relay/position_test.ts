/** Relay positions (`<epoch>-<seq>`). */
import assert from "node:assert/strict";
import { formatPosition, parsePosition } from "../../../core/relay/position.ts";

Deno.test("positions parse strictly", () => {
  assert.deepEqual(parsePosition(formatPosition("abc123", 42)), { epoch: "abc123", seq: 42 });
  for (const bad of ["", "42", "abc-", "-1", "a-b", "a b-1", "x-99999999999999999"]) {
    assert.equal(parsePosition(bad), undefined, bad);
  }
});
