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
import { hasOpenssl, makeCerts } from "../../../support/certs.ts";
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
    await makeCerts(dir.path);
    const listener = Deno.listenTls({
      hostname: "127.0.0.1",
      port: 0,
      cert: await Deno.readTextFile(`${dir.path}/cert.pem`),
      key: await Deno.readTextFile(`${dir.path}/key.pem`),
    });
    const open = new Set<Deno.Conn>();
    const write = (c: Deno.Conn, text: string) => c.write(enc.encode(text)).then(() => {});
    const serve = async (c: Deno.Conn) => {
      const buf = new Uint8Array(16 * 1024);
      let text = "";
      try {
        while (!text.includes("\r\n\r\n")) {
          const n = await c.read(buf);
          if (n === null) return;
          text += dec.decode(buf.subarray(0, n));
        }
        const path = text.split(" ")[1];
        await write(c, STREAM_HEAD + chunk("one;"));
        if (path === "/cut") {
          // A chunk of 16 bytes of which 3 come, then the connection closes.
          await write(c, "10\r\ntwo");
          return;
        }
        // `/abort`, `/timeout`: silence until the client closes.
        while (await c.read(buf) !== null) { /* until the client closes */ }
      } catch {
        /* closed */
      } finally {
        open.delete(c);
        try {
          c.close();
        } catch { /* closed */ }
      }
    };
    const accepting = (async () => {
      for await (const c of listener) {
        open.add(c);
        serve(c);
      }
    })().catch(() => {});
    const port = (listener.addr as Deno.NetAddr).port;
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
        env: { DENO_CERT: `${dir.path}/ca.pem` },
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
      listener.close();
      for (const c of open) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await accepting;
      await dir.remove();
    }
  },
});
