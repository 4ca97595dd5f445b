/**
 * The edge's connection discipline on a real service process: stalled clients are closed
 * within the configured timeouts, connections over max_connections get the 503 envelope and
 * are counted (when none of the open ones is idle and can make room), a process out of file descriptors serves /health again once they free up, and a
 * storm of clients that reset before they are accepted neither stops nor stalls the listener.
 * @module
 */
import assert from "node:assert/strict";
import { LAUNCHER, listeningUrl, startIatpService, tempDir, waitFor } from "../helpers.ts";
import { header, json, RawConn } from "../support/raw_http.ts";

/** Waits (bounded) for the server to close `c`; the deadline only guards against a hang. */
const CLOSE_WITHIN_MS = 10_000;

Deno.test("stalled clients: slowloris heads, half-sent bodies and idle keep-alives are closed", async () => {
  const dir = await tempDir();
  const relay = await startIatpService(
    ["relay", "--port", "0", "--header-timeout", "400ms", "--body-timeout", "400ms"]
      .concat(["--idle-timeout", "400ms"]),
    { env: { IATP_DATA_DIR: dir.path } },
  );
  const port = Number(new URL(relay.url).port);
  const drip = { on: true };
  try {
    // Slowloris: a head that never ends, one header byte at a time.
    const slow = await RawConn.open(port);
    await slow.write("POST /publish HTTP/1.1\r\nHost: localhost\r\n");
    const dripping = (async () => {
      for (let i = 0; drip.on && i < 200; i++) {
        await slow.write("X").catch(() => (drip.on = false));
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    // A body that stops after 4 of 100 bytes.
    const half = await RawConn.open(port);
    await half.write(
      "POST /publish HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n" +
        'Content-Length: 100\r\n\r\n{"to',
    );
    // A keep-alive connection that goes quiet after one request.
    const idle = await RawConn.open(port);
    await idle.write("GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert.equal((await idle.read())?.status, 200);
    // A connection that never sends a byte.
    const silent = await RawConn.open(port);

    const slowAnswer = await slow.read(CLOSE_WITHIN_MS);
    assert.equal(slowAnswer?.status, 408, "the slowloris head is answered 408");
    assert.ok(await slow.closed(CLOSE_WITHIN_MS), "and closed");
    const halfAnswer = await half.read(CLOSE_WITHIN_MS);
    assert.equal(halfAnswer?.status, 408, "the half-sent body fails the handler's read with 408");
    assert.equal(header(halfAnswer!, "connection"), "close");
    assert.ok(json(halfAnswer!).request_id);
    assert.ok(await half.closed(CLOSE_WITHIN_MS));
    assert.ok(await idle.closed(CLOSE_WITHIN_MS), "the idle keep-alive connection is closed");
    assert.ok(await silent.closed(CLOSE_WITHIN_MS), "a connection that sends nothing is closed");
    for (const c of [slow, half, idle, silent]) c.close();
    drip.on = false;
    await dripping;

    const metrics = await (await fetch(`${relay.url}/metrics`)).text();
    for (const phase of ["head", "body", "idle"]) {
      assert.match(
        metrics,
        new RegExp(`iatp_http_timeouts_total\\{phase="${phase}",[^}]*\\} [1-9]`),
      );
    }
  } finally {
    drip.on = false;
    await relay.stop();
    await dir.remove();
  }
});

for (const workers of [1, 2]) {
  Deno.test(`connection cap, ${workers} isolate(s): with every connection busy, connection N+1 gets the 503 envelope and is counted`, () =>
    connectionCap(workers));
}

for (const workers of [1, 2]) {
  Deno.test(`connection cap, ${workers} isolate(s): connections that send nothing make room for /health and a publish`, () =>
    silentFlood(workers));
}

/** A cap held by connections that never send a byte does not shut out clients. */
async function silentFlood(workers: number) {
  const dir = await tempDir();
  const relay = await startIatpService(
    ["relay", "--port", "0", "--max-connections", "40", "--workers", String(workers)],
    { env: { IATP_DATA_DIR: dir.path } },
  );
  if (workers > 1) {
    await waitFor(() => relay.stdout().includes("relay workers serving"), 30_000, "workers");
  }
  const port = Number(new URL(relay.url).port);
  const silent: RawConn[] = [];
  const served: RawConn[] = [];
  try {
    for (let i = 0; i < 60; i++) silent.push(await RawConn.open(port));
    const requests = [
      "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n",
      'POST /publish HTTP/1.1\r\nHost: localhost\r\nContent-Length: 26\r\n\r\n{"topic":"t","payload":{}}',
      "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n",
    ];
    let metrics = "";
    for (const req of requests) {
      const c = await RawConn.open(port);
      served.push(c);
      await c.write(req);
      const r = await c.read();
      assert.equal(r?.status, 200, `${req.slice(0, 20)}: ${r?.body.slice(0, 200)}`);
      metrics = r!.body;
    }
    if (workers === 1) {
      // Every silent one was accepted before the clients: each client took a silent one's slot.
      assert.match(metrics, /iatp_http_connections_shed_total\{service="relay"\} [1-9]/);
    }
  } finally {
    for (const c of [...silent, ...served]) c.close();
    await relay.stop();
    await dir.remove();
  }
}

/** With several isolates the cap counts the connections of all of them together. */
async function connectionCap(workers: number) {
  const dir = await tempDir();
  const relay = await startIatpService(
    ["relay", "--port", "0", "--max-connections", "3", "--workers", String(workers)],
    { env: { IATP_DATA_DIR: dir.path } },
  );
  if (workers > 1) {
    await waitFor(() => relay.stdout().includes("relay workers serving"), 30_000, "workers");
  }
  const port = Number(new URL(relay.url).port);
  const held: RawConn[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const c = await RawConn.open(port);
      await c.write("GET /subscribe?topic=t HTTP/1.1\r\nHost: localhost\r\n\r\n");
      // A stream under way holds its slot (an idle connection would make room for the next).
      assert.equal(await c.status(), 200);
      held.push(c);
    }
    const extra = await RawConn.open(port);
    await extra.write("GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n");
    const refused = await extra.read();
    assert.equal(refused?.status, 503);
    assert.equal(header(refused!, "connection"), "close");
    assert.equal(json(refused!).error, "too many connections");
    assert.ok(json(refused!).request_id);
    assert.ok(await extra.closed(CLOSE_WITHIN_MS));
    extra.close();
    // Free a slot (the server sees the close) and read the counters on it.
    held.pop()?.close();
    let text = "";
    await waitFor(
      async () => {
        const r = await fetch(`${relay.url}/metrics`).catch(() => undefined);
        text = r ? await r.text() : "";
        return r?.status === 200;
      },
      CLOSE_WITHIN_MS,
      "a free slot for /metrics",
    );
    assert.match(text, /iatp_http_connections_refused_total\{service="relay"\} [1-9]/);
    assert.match(text, /iatp_http_connections_open\{service="relay"\} [1-9]/);
  } finally {
    for (const c of held) c.close();
    await relay.stop();
    await dir.remove();
  }
}

Deno.test("out of file descriptors: the service sheds, keeps accepting and serves /health again", async () => {
  const dir = await tempDir();
  // `ulimit -n` lowers the hard limit too, so the runtime cannot raise it back.
  const child = new Deno.Command("bash", {
    args: [
      "-c",
      'ulimit -n 256 && exec "$0" "$@"',
      LAUNCHER,
      "relay",
      "--port",
      "0",
      "--workers",
      "2",
    ],
    env: { IATP_DATA_DIR: dir.path },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  const pump = (async () => {
    const d = new TextDecoder();
    for await (const chunk of child.stdout) out += d.decode(chunk, { stream: true });
  })();
  const drain = child.stderr.pipeTo(new WritableStream());
  const conns: Deno.Conn[] = [];
  try {
    let url: string | undefined;
    await waitFor(() => (url = listeningUrl(out)) !== undefined, 30_000, "relay to listen");
    // Both isolates serve before the flood: the descriptors run out in the whole process.
    await waitFor(() => out.includes("relay workers serving"), 30_000, "relay workers");
    const port = Number(new URL(url!).port);
    // More connections than the process has descriptors; they send nothing.
    for (let i = 0; i < 400; i++) {
      conns.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    }
    await waitFor(() => out.includes("out of file descriptors"), 30_000, "the EMFILE log line");
    for (const c of conns.splice(0)) c.close();
    await waitFor(
      async () => {
        const r = await fetch(`${url}/health`).catch(() => undefined);
        await r?.body?.cancel();
        return r?.status === 200;
      },
      30_000,
      "/health to answer again",
    );
    assert.equal(await Promise.race([child.status.then(() => "exited"), "alive"]), "alive");
    assert.doesNotMatch(out, /"stack"/);
  } finally {
    for (const c of conns) c.close();
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    await child.status;
    await pump;
    await drain.catch(() => {});
    await dir.remove();
  }
});

/** Opens `n` connections that each send a request and reset at once (SO_LINGER 0: an RST). */
const RESET_STORM = `
import socket, struct, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
for _ in range(n):
    c = socket.create_connection(("127.0.0.1", port))
    c.sendall(b"GET /subscribe?topic=a HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\n")
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
`;

Deno.test({
  name: "clients that reset before they are served never fail the listener",
  ignore: !(await new Deno.Command("python3", { args: ["--version"] }).output().then(
    (o) => o.success,
    () => false,
  )),
}, async () => {
  const dir = await tempDir();
  const relay = await startIatpService(["relay", "--port", "0"], {
    env: { IATP_DATA_DIR: dir.path },
  });
  try {
    const port = new URL(relay.url).port;
    for (let round = 0; round < 3; round++) {
      const storm = await new Deno.Command("python3", {
        args: ["-c", RESET_STORM, port, "300"],
        stdout: "null",
        stderr: "piped",
      }).output();
      assert.ok(storm.success, new TextDecoder().decode(storm.stderr));
      // Bounded: an accept loop that backs off on each reset would take minutes to answer.
      const res = await fetch(`${relay.url}/health`, { signal: AbortSignal.timeout(20_000) });
      assert.equal(res.status, 200, `round ${round}`);
      await res.body?.cancel();
    }
    assert.doesNotMatch(relay.stdout(), /listener failed|service failed/);
  } finally {
    await relay.stop("SIGTERM");
    await dir.remove();
  }
});
