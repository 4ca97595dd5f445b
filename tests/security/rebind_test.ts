/**
 * DNS rebinding, through the services' real start functions: the relay and the sidecar, open on
 * loopback by default, refuse a request naming a foreign host (421, the JSON envelope) and serve
 * loopback names; with credentials configured, or `--insecure`, they serve a foreign host as
 * before.
 */
import assert from "node:assert/strict";
import { command as relayCommand } from "../../cmd/relay.ts";
import { generateIssuer } from "../../core/auth/mod.ts";
import { silentLogger } from "../../core/log/mod.ts";
import { exchange, header, json, type RawResponse } from "../support/raw_http.ts";
import { startAgent, startSidecar } from "../cmd/sidecar/fixtures.ts";

const FOREIGN = "attacker.example:19001";
const portOf = (url: string) => Number(new URL(url).port);

async function send(port: number, head: string, body = ""): Promise<RawResponse> {
  const r = await exchange(port, `${head}\r\nConnection: close\r\n\r\n${body}`);
  assert.ok(r, `no answer to ${head}`);
  return r;
}

function get(port: number, path: string, host: string, extra = ""): Promise<RawResponse> {
  return send(port, `GET ${path} HTTP/1.1\r\nHost: ${host}${extra}`);
}

function proxy(port: number, host: string): Promise<RawResponse> {
  const body = JSON.stringify({ text: "hello" });
  return send(
    port,
    `POST /proxy HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${body.length}`,
    body,
  );
}

function assertMisdirected(r: RawResponse): void {
  assert.equal(r.status, 421, r.body);
  assert.equal(header(r, "content-type"), "application/json");
  const body = json(r);
  assert.match(String(body.error), /^misdirected request/);
  assert.equal(body.request_id, header(r, "x-request-id"));
  assert.equal(body.found, FOREIGN);
}

function loopbackHosts(port: number): string[] {
  return [`localhost:${port}`, `127.0.0.1:${port}`, "127.5.6.7", `[::1]:${port}`, "foo.localhost"];
}

async function startRelay(settings: Record<string, unknown> = {}) {
  const config = relayCommand.resolve({ port: 0, workers: 1, ...settings });
  return await relayCommand.start(config, { log: silentLogger });
}

Deno.test("relay open on loopback: a foreign Host is refused 421, loopback names served", async () => {
  const relay = await startRelay();
  const port = portOf(relay.url);
  try {
    assertMisdirected(await get(port, "/subscribe?topic=access.intent&since=0", FOREIGN));
    assertMisdirected(await get(port, "/topics", FOREIGN));
    assertMisdirected(await get(port, "/health", FOREIGN));
    const body = JSON.stringify({ topic: "access.intent", payload: { a: 1 } });
    assertMisdirected(
      await send(
        port,
        `POST /publish HTTP/1.1\r\nHost: ${FOREIGN}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${body.length}`,
        body,
      ),
    );
    for (const host of loopbackHosts(port)) {
      const r = await get(port, "/topics", host);
      assert.equal(r.status, 200, `${host}: ${r.body}`);
    }
  } finally {
    await relay.close();
  }
});

Deno.test("relay with credentials configured serves a foreign Host as before", async () => {
  const token = "rebind-test-token-0123456789abcdef";
  const relay = await startRelay({ tokens: { [token]: ["subscribe:*", "publish:*"] } });
  const port = portOf(relay.url);
  try {
    const refused = await get(port, "/topics", FOREIGN);
    assert.equal(refused.status, 401, "the route ran: no credential");
    const served = await get(port, "/topics", FOREIGN, `\r\nAuthorization: Bearer ${token}`);
    assert.equal(served.status, 200, served.body);
  } finally {
    await relay.close();
  }
});

Deno.test("relay started with --insecure serves a foreign Host", async () => {
  const relay = await startRelay({ insecure: true });
  try {
    const r = await get(portOf(relay.url), "/topics", FOREIGN);
    assert.equal(r.status, 200, r.body);
  } finally {
    await relay.close();
  }
});

Deno.test("sidecar open on loopback: a foreign Host is refused 421 on /proxy too", async () => {
  const agent = startAgent();
  const sidecar = await startSidecar({ agent_url: agent.url });
  const port = portOf(sidecar.url);
  try {
    assertMisdirected(await proxy(port, FOREIGN));
    assertMisdirected(await get(port, "/.well-known/agent-manifest", FOREIGN));
    assertMisdirected(await get(port, "/health", FOREIGN));
    assert.equal(agent.received.length, 0, "nothing reached the agent");
    for (const host of loopbackHosts(port)) {
      assert.equal((await proxy(port, host)).status, 200, host);
      assert.equal((await get(port, "/.well-known/agent-manifest", host)).status, 200, host);
    }
  } finally {
    await sidecar.close();
    await agent.close();
  }
});

Deno.test("sidecar with credentials, or --insecure, serves a foreign Host", async () => {
  const agent = startAgent();
  const issuer = await generateIssuer();
  try {
    for (const settings of [{ auth_keys: [issuer.publicKey] }, { insecure: true }]) {
      const sidecar = await startSidecar({ agent_url: agent.url, ...settings });
      const port = portOf(sidecar.url);
      try {
        assert.equal((await proxy(port, FOREIGN)).status, 200, JSON.stringify(settings));
        const manifest = await get(port, "/.well-known/agent-manifest", FOREIGN);
        assert.equal(manifest.status, 200, JSON.stringify(settings));
      } finally {
        await sidecar.close();
      }
    }
  } finally {
    await agent.close();
  }
});
