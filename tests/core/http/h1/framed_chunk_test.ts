/**
 * A chunk made inside its own chunked framing (`framedChunk`, the relay's replay chunks) is held
 * as long as a connection holds its framing: an HTTP/1.1 connection writing it holds only the
 * framed buffer, and the replays that share the chunk find it by the chunk itself. Neither
 * outlives the other's last holder.
 * @module
 */
import assert from "node:assert/strict";
import { runGcProbe } from "../../../support/gc_probe.ts";

Deno.test("a framed chunk lives while its framing is held, and both go once neither is", async () => {
  const got = await runGcProbe<{ kept: boolean; freed: boolean }>(
    new URL("./framed_chunk_probe.ts", import.meta.url),
  );
  assert.deepEqual(got, { kept: true, freed: true });
});
