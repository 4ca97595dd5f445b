/**
 * The DNS rebinding guard: a service open on loopback (no `anyHost`) refuses a request naming a
 * host that is not a loopback one with 421 and the JSON envelope, on the raw path, the built-in
 * routes and Hono's routes alike; loopback names and addresses are served; `anyHost` (credentials
 * configured, or `--insecure`) serves every host; a listener beyond loopback is not guarded.
 * @module
 */
import assert from "node:assert/strict";
import { createServer, type Service } from "../../../core/http/mod.ts";
import {
  foreignHostOf,
  guardsHost,
  isLoopbackAuthority,
  MAX_QUOTED_HOST_CHARS,
  namesForeignHost,
} from "../../../core/http/host_guard.ts";
import type { RequestHead } from "../../../core/http/h1/head.ts";
import { createLogger } from "../../../core/log/mod.ts";
import { exchange, header, json, RawConn, type RawResponse } from "../../support/raw_http.ts";

const LOOPBACK = [
  "localhost",
  "localhost:19001",
  "LocalHost:8080",
  "foo.localhost",
  "a.b.LOCALHOST:1",
  "127.0.0.1",
  "127.0.0.1:19001",
  "127.5.6.7",
  "127.255.255.255:80",
  "[::1]",
  "[::1]:19001",
  "localhost:",
];
const FOREIGN = [
  "attacker.example",
  "attacker.example:19001",
  "localhost.attacker.example",
  "127.0.0.1.attacker.example",
  ".localhost",
  "localhostx",
  "127.0.0.256",
  "127.0.0",
  "128.0.0.1",
  "0.0.0.0",
  "10.0.0.1:19001",
  "[::2]",
  "[::1]x",
  "[0:0:0:0:0:0:0:1]",
  "[::ffff:127.0.0.1]",
  "localhost:80x",
];

Deno.test("isLoopbackAuthority: localhost, *.localhost, 127/8 and [::1], with a port", () => {
  for (const h of LOOPBACK) assert.equal(isLoopbackAuthority(h), true, h);
  for (const h of FOREIGN) assert.equal(isLoopbackAuthority(h), false, h);
});

Deno.test("foreignHostOf: the Host value, then an absolute-form target's authority", () => {
  assert.equal(foreignHostOf("localhost:1", "/x"), undefined);
  assert.equal(foreignHostOf("evil.example", "/x"), "evil.example");
  // No Host (HTTP/1.0) names nothing.
  assert.equal(foreignHostOf("", "/x"), undefined);
  assert.equal(foreignHostOf("", "*"), undefined);
  // The URL a route sees is made of an absolute-form target: its authority counts too.
  assert.equal(foreignHostOf("localhost", "http://evil.example/x"), "evil.example");
  assert.equal(foreignHostOf("localhost", "http://user@evil.example:1/x"), "evil.example:1");
  assert.equal(foreignHostOf("localhost", "http://127.0.0.1:19001/x"), undefined);
  assert.equal(foreignHostOf("localhost", "http://[::1]/x"), undefined);
});

/** A server with a raw route, a Hono route and the built-ins. */
async function serve(opts: { host?: string; anyHost?: boolean } = {}): Promise<Service> {
  const log = createLogger({ service: "t", sink: () => {} });
  const server = createServer({
    service: "t",
    host: opts.host ?? "127.0.0.1",
    port: 0,
    log,
    anyHost: opts.anyHost,
    rawRoutes: (method, path) =>
      method === "GET" && path === "/raw"
        ? { route: "/raw", serve: () => ({ status: 200, headers: [], body: "raw" }) }
        : undefined,
  });
  server.routes((app) => {
    app.get("/raw", (c) => c.text("raw"));
    app.get("/hono", (c) => c.text("hono"));
    app.post("/hono", (c) => c.text("posted"));
  });
  return await server.listen();
}

const portOf = (svc: Service) => Number(new URL(svc.url).port);

async function get(port: number, path: string, host: string): Promise<RawResponse> {
  const r = await exchange(
    port,
    `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
  );
  assert.ok(r, `no answer for ${path} with Host ${host}`);
  return r;
}

function assertRefused(r: RawResponse, found: string): void {
  assert.equal(r.status, 421);
  assert.equal(header(r, "content-type"), "application/json");
  const body = json(r);
  assert.match(String(body.error), /^misdirected request: .*loopback/);
  assert.equal(typeof body.request_id, "string");
  assert.equal(body.request_id, header(r, "x-request-id"));
  assert.equal(body.found, found);
  assert.equal(body.setting, "insecure");
}

Deno.test("open on loopback: a foreign Host is refused 421 before any route", async () => {
  const svc = await serve();
  const port = portOf(svc);
  try {
    for (const path of ["/raw", "/hono", "/health", "/ready", "/metrics", "/nowhere"]) {
      assertRefused(await get(port, path, "attacker.example:19001"), "attacker.example:19001");
    }
    // A body-carrying request too, and an absolute-form target naming a foreign authority.
    const post = await exchange(
      port,
      "POST /hono HTTP/1.1\r\nHost: evil.example\r\nContent-Length: 2\r\n" +
        "Connection: close\r\n\r\nhi",
    );
    assert.ok(post);
    assertRefused(post, "evil.example");
    const absolute = await exchange(
      port,
      "GET http://evil.example/hono HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert.ok(absolute);
    assertRefused(absolute, "evil.example");
    // The refused host is quoted cut short.
    const long = `${"a".repeat(500)}.example`;
    assertRefused(await get(port, "/hono", long), `${"a".repeat(MAX_QUOTED_HOST_CHARS)}...`);
  } finally {
    await svc.close();
  }
});

Deno.test("open on loopback: loopback names and addresses are served", async () => {
  const svc = await serve();
  const port = portOf(svc);
  try {
    for (
      const host of [
        `localhost:${port}`,
        `127.0.0.1:${port}`,
        "127.5.6.7",
        `[::1]:${port}`,
        "foo.localhost",
        `LOCALHOST:${port}`,
      ]
    ) {
      assert.equal((await get(port, "/raw", host)).body, "raw", host);
      assert.equal((await get(port, "/hono", host)).body, "hono", host);
      assert.equal((await get(port, "/health", host)).status, 200, host);
    }
    // HTTP/1.0 without Host names no host; HTTP/1.1 without Host is a 400 of the parser.
    const old = await exchange(port, "GET /hono HTTP/1.0\r\n\r\n");
    assert.equal(old?.body, "hono");
    const none = await exchange(port, "GET /hono HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert.equal(none?.status, 400);
  } finally {
    await svc.close();
  }
});

Deno.test("anyHost (credentials or --insecure) serves a foreign Host", async () => {
  const svc = await serve({ anyHost: true });
  const port = portOf(svc);
  try {
    assert.equal((await get(port, "/raw", "attacker.example:19001")).body, "raw");
    assert.equal((await get(port, "/hono", "attacker.example:19001")).body, "hono");
    assert.equal((await get(port, "/health", "attacker.example")).status, 200);
  } finally {
    await svc.close();
  }
});

Deno.test("guardsHost: loopback listeners without anyHost only", () => {
  for (const host of ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"]) {
    assert.equal(guardsHost(host, false), true, host);
    assert.equal(guardsHost(host, true), false, host);
  }
  // Beyond loopback a service without credentials starts only with --insecure.
  for (const host of ["0.0.0.0", "::", "10.0.0.1", "relay.internal"]) {
    assert.equal(guardsHost(host, false), false, host);
  }
});

Deno.test("listening on localhost or ::1 is loopback: guarded", async () => {
  for (const host of ["localhost", "::1"]) {
    let svc: Service;
    try {
      svc = await serve({ host });
    } catch (err) {
      // A host without IPv6 loopback cannot listen on ::1.
      if (host === "::1" && err instanceof Deno.errors.AddrNotAvailable) continue;
      throw err;
    }
    const port = portOf(svc);
    const hostname = new URL(svc.url).hostname.replace(/^\[|\]$/g, "");
    try {
      const r = await exchangeAt(hostname, port, "evil.example");
      assertRefused(r, "evil.example");
    } finally {
      await svc.close();
    }
  }
});

async function exchangeAt(hostname: string, port: number, host: string): Promise<RawResponse> {
  const c = await RawConn.open(port, hostname);
  try {
    await c.write(`GET /hono HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    const r = await c.read();
    assert.ok(r);
    return r;
  } finally {
    c.close();
  }
}

Deno.test("host guard: a Host passed before is passed again, and only in origin-form", () => {
  const head = (host: string, target = "/x") => ({ host, target }) as unknown as RequestHead;
  assert.equal(namesForeignHost(head("localhost:19001")), false);
  assert.equal(namesForeignHost(head("localhost:19001")), false);
  assert.equal(namesForeignHost(head("attacker.example:19001")), true);
  assert.equal(namesForeignHost(head("localhost:19001", "http://attacker.example/x")), true);
  assert.equal(namesForeignHost(head("attacker.example:19001")), true);
  assert.equal(namesForeignHost(head("localhost:19001")), false);
  assert.equal(namesForeignHost(head("", "http://attacker.example/x")), true);
});
