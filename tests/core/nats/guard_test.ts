/**
 * What a NATS server can make a service hold (core/nats/guard.ts): the framing checks on their
 * own, then a relay whose link to a real nats-server turns hostile (a protocol line that never
 * ends, garbage) through a proxy: the connection is closed, /health is degraded, the process
 * stays responsive, and it connects again and serves once the link is sound.
 * @module
 */
import assert from "node:assert/strict";
import { NATS_MAX_MESSAGE_BYTES, ProtocolGuard } from "../../../core/nats/guard.ts";
import { connectNats, natsSettings } from "../../../core/nats/mod.ts";
import { silentLogger } from "../../../core/log/mod.ts";
import { natsMissing, startNats } from "../../support/nats.ts";
import { freePort, startIatpService, waitFor } from "../../helpers.ts";

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("ProtocolGuard follows lines and messages, and refuses what breaks a bound", () => {
  const g = new ProtocolGuard(4096);
  // A message's payload may hold anything, CRLF included, and may come in pieces.
  assert.equal(
    g.check(enc('INFO {"max_payload":1048576}\r\nPING\r\nMSG a.b 1 _INBOX.x 6\r\n')),
    undefined,
  );
  assert.equal(g.check(enc("x\r\ny")), undefined);
  assert.equal(
    g.check(enc("zw\r\nHMSG a 2 12 16\r\nNATS/1.0\r\n\r\nabcd\r\n+OK\r\npong\r\n")),
    undefined,
  );
  assert.equal(g.check(enc("-ERR 'Permissions Violation'\r\n")), undefined);
  // A line over the bound, even in pieces, before its end arrives.
  const long = new ProtocolGuard(4096);
  assert.equal(long.check(enc("MSG a 1 ")), undefined);
  assert.match(
    long.check(new Uint8Array(4096).fill(120)) ?? "",
    /longer than 4096 bytes \(nats\.max_control_line\)/,
  );
  assert.match(
    new ProtocolGuard(4096).check(enc(`MSG a 1 ${NATS_MAX_MESSAGE_BYTES + 1}\r\n`)) ?? "",
    /a message of/,
  );
  assert.match(new ProtocolGuard(4096).check(enc("MSG a 1 ten\r\n")) ?? "", /without its size/);
  assert.match(
    new ProtocolGuard(4096).check(enc("\u0000\u00ff garbage\r\n")) ?? "",
    /not NATS protocol/,
  );
  // The reason never quotes the server's bytes.
  assert.doesNotMatch(new ProtocolGuard(4096).check(enc("s3cret-ish\r\n")) ?? "", /s3cret/);
});

Deno.test("an INFO line that never ends in CRLF is bounded while connecting, even when it holds bare line feeds", async () => {
  // The client reads the INFO line until CRLF: a bare LF does not end it, so each one the server
  // sends is kept too. The server writes up to 32 MiB unless the client closes first.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const lines = new Uint8Array(64 * 1024).fill(10);
  let written = 0;
  const served = (async () => {
    const c = await listener.accept();
    try {
      await c.write(enc("INFO {"));
      while (written < 32 * 1024 * 1024) written += await c.write(lines);
    } catch {
      /* the client closed the connection */
    } finally {
      try {
        c.close();
      } catch { /* closed */ }
    }
  })();
  const section = {
    user: undefined,
    password: undefined,
    token: undefined,
    creds: undefined,
    tls_ca: undefined,
    tls_cert: undefined,
    tls_key: undefined,
    timeout: 60_000,
    max_control_line: 4096,
  };
  try {
    const url = `nats://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
    await assert.rejects(connectNats(natsSettings(url, section, "t"), silentLogger));
    await served;
    assert.ok(written < 32 * 1024 * 1024, `the client took all ${written} bytes of one line`);
  } finally {
    listener.close();
  }
});

/** A TCP proxy to `target` whose server side can turn hostile: `mode` is read per chunk. */
function proxy(target: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const state = { mode: "pass" as "pass" | "endless" | "garbage" };
  const conns: Deno.Conn[] = [];
  const hostile = async (to: Deno.Conn, mode: string) => {
    if (mode === "endless") await to.write(enc("MSG foo 1 "));
    const junk = new Uint8Array(64 * 1024).fill(mode === "endless" ? 120 : 0);
    // Until the client closes the connection (or 64 MiB, a bound for the test itself).
    for (let i = 0; i < 1024; i++) await to.write(junk);
  };
  const pump = async (from: Deno.Conn, to: Deno.Conn, serverSide: boolean) => {
    try {
      for await (const chunk of from.readable) {
        if (serverSide && state.mode !== "pass") return await hostile(to, state.mode);
        await to.write(chunk);
      }
    } catch {
      /* closed */
    } finally {
      for (const c of [from, to]) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    }
  };
  const serving = (async () => {
    for await (const client of listener) {
      try {
        const server = await Deno.connect({ hostname: "127.0.0.1", port: target });
        conns.push(client, server);
        void pump(client, server, false);
        void pump(server, client, true);
      } catch {
        client.close();
      }
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    state,
    async close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await serving.catch(() => {});
    },
  };
}

async function health(url: string): Promise<{ status?: string; engine?: string }> {
  try {
    const r = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
    return await r.json();
  } catch {
    return {};
  }
}

Deno.test({
  name: "a relay whose NATS link sends a line that never ends, or garbage, closes it, reports " +
    "degraded health, stays responsive and serves again once the link is sound",
  ignore: natsMissing !== undefined,
}, async () => {
  const nats = await startNats(1);
  const link = proxy(nats.nodes[0].port);
  const relay = await startIatpService([
    "relay",
    "--port",
    String(freePort()),
    "--store",
    `nats://127.0.0.1:${link.port}`,
    "--compat",
    "iatp",
    "--nats-max-control-line",
    "16KiB",
  ]);
  try {
    await waitFor(async () => (await health(relay.url)).status === "ok", 30_000, "health ok");
    for (const mode of ["endless", "garbage"] as const) {
      link.state.mode = mode;
      await waitFor(
        async () => (await health(relay.url)).engine === "unreachable",
        30_000,
        `${mode}: the relay to close the link and say so`,
      );
      link.state.mode = "pass";
      await waitFor(
        async () => (await health(relay.url)).status === "ok",
        30_000,
        `${mode}: the relay to connect again`,
      );
      const r = await fetch(`${relay.url}/publish`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ topic: "t", payload: { mode } }),
      });
      assert.equal(r.status, 201, await r.text());
    }
    assert.match(
      relay.stdout(),
      /engine connection closed: the server broke the protocol's bounds.*longer than 16384 bytes \(nats\.max_control_line\)/,
    );
  } finally {
    await relay.stop();
    await link.close();
    await nats.stop();
  }
});
