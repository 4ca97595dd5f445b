/**
 * A streamed body from an https origin (which the client reaches through `fetch`) fails as one
 * from an http origin does, with an `HttpClientError` of the right kind: `aborted` when the
 * request's signal is aborted while the body streams (with the signal's reason), `timeout` when
 * the whole exchange's deadline ends a stalled body, `protocol` when the origin closes in the
 * middle of a chunk. A real TLS server; the client runs in a process of its own that trusts the
 * test CA (DENO_CERT). Ignored where openssl is missing.
 */
import assert from "node:assert/strict";
import { chunk, STREAM_HEAD } from "../../../support/stall_server.ts";
import { hasOpenssl, startTlsHeadServer } from "../../../support/certs.ts";
import { tempDir } from "../../../helpers.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

interface Outcome {
  scenario: string;
  text: string;
  error?: { name: string; kind?: string; message: string };
}

Deno.test({
  name: "an https origin: a streamed body fails with HttpClientError and its kind",
  ignore: !hasOpenssl,
  fn: async () => {
    const dir = await tempDir();
    const write = (c: Deno.Conn, text: string) => c.write(enc.encode(text)).then(() => {});
    const server = await startTlsHeadServer(dir.path, async (c, head) => {
      const path = head.split(" ")[1];
      await write(c, STREAM_HEAD + chunk("one;"));
      if (path === "/cut") {
        // A chunk of 16 bytes of which 3 come, then the connection closes.
        await write(c, "10\r\ntwo");
        return true;
      }
      // `/abort`, `/timeout`: silence until the client closes.
    });
    const port = server.port;
    try {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          new URL("../../../support/https_client_probe.ts", import.meta.url).pathname,
          `https://127.0.0.1:${port}`,
          "abort",
          "timeout",
          "cut",
        ],
        env: { DENO_CERT: server.ca },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const lines = dec.decode(out.stdout).split("\n").filter((l) => l.trim() !== "");
      assert.equal(lines.length, 3, dec.decode(out.stderr));
      const [abort, timeout, cut] = lines.map((l) => JSON.parse(l) as Outcome);
      for (const o of [abort, timeout, cut]) {
        assert.ok(o.text.startsWith("one;"), `${o.scenario}: the first chunk read`);
        assert.equal(o.error?.name, "HttpClientError", `${o.scenario}: ${JSON.stringify(o)}`);
      }
      assert.equal(abort.error?.kind, "aborted");
      assert.match(abort.error?.message ?? "", /stopping/);
      assert.equal(timeout.error?.kind, "timeout");
      assert.equal(cut.error?.kind, "protocol");
      assert.match(cut.error?.message ?? "", /body cut short or malformed/);
    } finally {
      await server.close();
      await dir.remove();
    }
  },
});
