/** Wire protocol pieces: the bounded line reader and token framing. */
import assert from "node:assert/strict";
import { BoundedLineReader, splitFrame } from "../../../core/plugin/protocol.ts";

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("lines split across chunks are reassembled; multi-byte characters survive", () => {
  const lines: string[] = [];
  const r = new BoundedLineReader(100, (l) => lines.push(l), () => assert.fail("no overflow"));
  const bytes = enc("héllo\nwor");
  r.push(bytes.subarray(0, 2)); // cuts "é" in half
  r.push(bytes.subarray(2));
  r.push(enc("ld\n\nlast"));
  assert.deepEqual(lines, ["héllo", "world", ""]);
  r.push(enc("\n"));
  assert.deepEqual(lines.at(-1), "last");
});

Deno.test("an over-long line is counted, never buffered, and the next line is read normally", () => {
  const lines: string[] = [];
  let overflow = 0;
  const r = new BoundedLineReader(10, (l) => lines.push(l), (n) => overflow += n);
  r.push(enc("x".repeat(8)));
  r.push(enc("y".repeat(1000)));
  r.push(enc("zz\nok\n"));
  assert.deepEqual(lines, ["ok"]);
  assert.equal(overflow, 1010);
});

Deno.test("splitFrame: only a line carrying the token is a frame; bytes before it are noise", () => {
  assert.deepEqual(splitFrame('{"t":"result","ok":true}', "tok"), { noise: 25 });
  assert.deepEqual(splitFrame('junktok {"t":"ready"}', "tok"), {
    noise: 4,
    frame: '{"t":"ready"}',
  });
  assert.deepEqual(splitFrame('tok {"a":1}', "tok"), { noise: 0, frame: '{"a":1}' });
});
