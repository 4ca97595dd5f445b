/** Relay positions (`<epoch>-<seq>`). */
import assert from "node:assert/strict";
import { formatPosition, parsePosition } from "../../../core/relay/position.ts";

Deno.test("positions parse strictly", () => {
  assert.deepEqual(parsePosition(formatPosition("abc123", 42)), { epoch: "abc123", seq: 42 });
  for (
    const bad of [
      "",
      "42",
      "abc-",
      "-1",
      "a-b",
      "a b-1",
      "x-99999999999999999",
      "x-1e3",
      "x-0x1",
      "x--1",
      "x-+1",
      "x-\uff11",
      "x-\u0661",
      "\u202ex-1",
      "x\u200b-1",
    ]
  ) {
    assert.equal(parsePosition(bad), undefined, bad);
  }
});
