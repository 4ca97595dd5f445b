/**
 * A subscription to an https relay (which goes through `fetch`, the client's path for `https:`)
 * on a real TLS socket: a live stream that outlasts the head's deadline stays on one connection
 * (the head's timer is cancelled once the head is there), a silent stream is timed out and
 * resumed from the last event, a head that never comes is timed out too, and the token goes on
 * every connection. The subscriber runs in a process of its own that trusts the test CA
 * (DENO_CERT); the test is ignored where openssl is missing.
 */
import assert from "node:assert/strict";
import { chunk, STREAM_HEAD } from "../../support/stall_server.ts";
import { hasOpenssl, startTlsHeadServer } from "../../support/certs.ts";
import { tempDir, waitFor } from "../../helpers.ts";
import { sleep } from "../../../core/async/mod.ts";

const enc = new TextEncoder();

function frame(id: string, n: number): string {
  const data = JSON.stringify({ id: `u${n}`, seq: n, ts: 1, topic: "t", payload: { n } });
  return chunk(`id: ${id}\nevent: message\ndata: ${data}\n\n`);
}

function header(lines: string[], name: string): string | undefined {
  const line = lines.find((l) => l.toLowerCase().startsWith(`${name}:`));
  return line?.slice(name.length + 1).trim();
}

Deno.test({
  name:
    "an https relay: a live stream outlasts the head's deadline, stalls are timed out and resumed",
  ignore: !hasOpenssl,
  fn: async () => {
    const dir = await tempDir();
    const heads: string[][] = [];
    const write = (c: Deno.Conn, text: string) => c.write(enc.encode(text)).then(() => {});
    const server = await startTlsHeadServer(dir.path, async (c, head) => {
      heads.push(head.split("\r\n"));
      const nth = heads.length;
      if (nth === 1) {
        // Eight events 100 ms apart: 800 ms, past the 300 ms the head had; then silence.
        await write(c, STREAM_HEAD);
        for (let n = 1; n <= 8; n++) {
          await write(c, frame(`e-${n}`, n));
          await sleep(100);
        }
      } else if (nth === 3) await write(c, STREAM_HEAD + frame("e-9", 9));
      // The second never answers its head.
    });
    const port = server.port;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../../support/https_subscriber.ts", import.meta.url).pathname,
        `https://127.0.0.1:${port}`,
        "300",
        "tls-tok",
      ],
      env: { DENO_CERT: server.ca },
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const out: Array<{ event?: number; status?: string; error?: string }> = [];
    const reading = (async () => {
      let rest = "";
      for await (const piece of child.stdout.pipeThrough(new TextDecoderStream())) {
        const lines = (rest + piece).split("\n");
        rest = lines.pop()!;
        for (const l of lines) if (l.trim() !== "") out.push(JSON.parse(l));
      }
    })();
    try {
      await waitFor(
        () => out.some((o) => o.event === 9),
        20_000,
        "the event of the third connection",
      );
      assert.deepEqual(out.filter((o) => o.event).map((o) => o.event), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
      assert.equal(heads.length, 3);
      // All eight were read on the first connection: the second resumed after the eighth.
      assert.equal(header(heads[0], "last-event-id"), undefined);
      assert.equal(header(heads[1], "last-event-id"), "e-8");
      assert.equal(header(heads[2], "last-event-id"), "e-8");
      for (const h of heads) assert.equal(header(h, "authorization"), "Bearer tls-tok");
      // The third connection was made: the second's head, never sent, was timed out.
      // Every failed connection is reported: the stall among them (a loaded host may time out a
      // TLS handshake first).
      assert.ok(
        out.some((o) => o.status === "disconnected" && /idle timeout/.test(o.error ?? "")),
        JSON.stringify(out.filter((o) => o.status)),
      );
    } finally {
      child.kill("SIGTERM");
      await child.status;
      await reading;
      await server.close();
      await dir.remove();
    }
  },
});
