import assert from "node:assert/strict";
import { DockerEngine } from "../../../core/docker/mod.ts";
import { compareVersions, DockerError, negotiateVersion } from "../../../core/docker/engine.ts";
import { containerName, projectName } from "../../../core/docker/names.ts";
import { decodeLogs } from "../../../core/docker/log_frames.ts";
import {
  ensureBusyboxImage,
  ensureDockerd,
  removeContainers,
  runContainer,
  uniqueName,
} from "../../support/dockerd.ts";
import { waitFor } from "../../helpers.ts";
import { type Arrival, type Reply, startRawAgent } from "../../support/raw_agent.ts";

/** The test Docker daemon; tests that need it are ignored (never passed) without one. */
const dockerd = await ensureDockerd();

Deno.test("API version negotiation picks the lower version and refuses old daemons", () => {
  assert.equal(negotiateVersion("1.41"), "1.41");
  assert.equal(negotiateVersion("1.43"), "1.43");
  assert.equal(negotiateVersion("1.52"), "1.47");
  assert.throws(() => negotiateVersion("1.40"), /older than the minimum 1.41/);
  assert.throws(() => negotiateVersion("banana"), DockerError);
  assert.ok(compareVersions("1.9", "1.10") < 0);
});

Deno.test("multiplexed log frames decode; raw TTY output passes through", () => {
  const frame = (stream: number, text: string) => {
    const body = new TextEncoder().encode(text);
    const head = new Uint8Array(8);
    head[0] = stream;
    new DataView(head.buffer).setUint32(4, body.length);
    return [...head, ...body];
  };
  const bytes = new Uint8Array([...frame(1, "out 1\n"), ...frame(2, "err 1\n"), ...frame(1, "x")]);
  assert.equal(decodeLogs(bytes, false), "out 1\nerr 1\nx");
  assert.equal(decodeLogs(new TextEncoder().encode("plain tty\n"), true), "plain tty\n");
  assert.equal(decodeLogs(bytes.subarray(0, 10), false), "ou", "truncated frame keeps what came");
});

Deno.test("names: container and project names are validated", () => {
  for (const ok of ["web", "web_1", "a.b-c", "A".repeat(63)]) assert.equal(containerName(ok), ok);
  for (const bad of ["", "-x", ".x", "a/b", "a b", "A".repeat(64), "x;rm", 5]) {
    assert.throws(() => containerName(bad), /parameters.name must match/);
  }
  assert.equal(projectName("shop-1"), "shop-1");
  for (const bad of ["Shop", "a.b", "-a", "a".repeat(64)]) assert.throws(() => projectName(bad));
});

Deno.test({
  name: "engine client against a real dockerd: list, inspect, logs, lifecycle",
  ignore: !dockerd.available,
}, async (t) => {
  const d = dockerd;
  const image = await ensureBusyboxImage(d.socket);
  const name = uniqueName("iatp-eng");
  const engine = new DockerEngine({ socket: d.socket });
  try {
    await runContainer(d.socket, name, [
      image,
      "sh",
      "-c",
      "echo hello-out; echo hello-err >&2; trap 'exit 0' TERM; while true; do sleep 1; done",
    ]);
    await t.step("negotiates the daemon's API version", async () => {
      const v = await engine.apiVersion();
      assert.ok(compareVersions(v, "1.41") >= 0, v);
    });
    await t.step("list and inspect", async () => {
      const list = await engine.listContainers({ filters: { name: [`^/${name}$`] } });
      assert.equal(list.length, 1);
      assert.equal(list[0].State, "running");
      const info = await engine.inspect(name);
      assert.equal(info.Name, `/${name}`);
      assert.equal(info.State.Running, true);
    });
    await t.step("logs demux stdout and stderr", async () => {
      let text = "";
      await waitFor(
        async () => {
          text = (await engine.logs(name, { tail: 10 })).text;
          return text.includes("hello-err");
        },
        10_000,
        "both log lines",
      );
      assert.match(text, /hello-out\n/);
      assert.match(text, /hello-err\n/);
      const bounded = await engine.logs(name, { tail: 10, maxBytes: 5 });
      assert.equal(bounded.truncated, true);
    });
    await t.step("stop, start, pause, unpause, restart", async () => {
      await engine.stop(name, 5);
      assert.equal((await engine.inspect(name)).State.Status, "exited");
      await engine.stop(name, 5); // already stopped: not an error
      await engine.start(name);
      assert.equal((await engine.inspect(name)).State.Running, true);
      await engine.pause(name);
      assert.equal((await engine.inspect(name)).State.Paused, true);
      await engine.unpause(name);
      const before = (await engine.inspect(name)).State.StartedAt;
      await engine.restart(name, 5);
      const after = await engine.inspect(name);
      assert.equal(after.State.Running, true);
      assert.notEqual(after.State.StartedAt, before);
    });
    await t.step("unknown containers are a 404 DockerError", async () => {
      await assert.rejects(() => engine.inspect(`${name}-nope`), (e: unknown) => {
        return e instanceof DockerError && e.status === 404;
      });
    });
  } finally {
    engine.close();
    await removeContainers(d.socket, [name]);
  }
});

Deno.test("an unreachable socket is a DockerError naming the socket", async () => {
  const engine = new DockerEngine({ socket: "/nonexistent/docker.sock", timeoutMs: 2000 });
  try {
    assert.equal(await engine.ping(), false);
    await assert.rejects(() => engine.apiVersion(), /unreachable at \/nonexistent\/docker.sock/);
  } finally {
    engine.close();
  }
});

/** A fake daemon on a Unix socket answering what `reply` gives, and an engine on that socket. */
async function fakeDaemon(reply: (a: Arrival) => Reply, timeoutMs = 5000) {
  const dir = await Deno.makeTempDir({ prefix: "iatp-fake-docker-" });
  const socket = `${dir}/docker.sock`;
  const daemon = startRawAgent(reply, { unixPath: socket });
  const engine = new DockerEngine({ socket, timeoutMs });
  return {
    daemon,
    engine,
    async [Symbol.asyncDispose]() {
      engine.close();
      daemon.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const json = (status: number, body: unknown) => {
  const text = JSON.stringify(body);
  return `HTTP/1.1 ${status} X\r\ncontent-type: application/json\r\ncontent-length: ${text.length}\r\n\r\n${text}`;
};

/** Answers /version with API 1.52 (spoken as 1.47) and /_ping with OK; `other` the rest. */
const versioned = (other: (a: Arrival) => Reply) => (a: Arrival): Reply =>
  a.line.startsWith("GET /version ")
    ? json(200, { ApiVersion: "1.52" })
    : a.line.startsWith("GET /_ping ")
    ? "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nOK"
    : other(a);

Deno.test("the engine speaks HTTP/1.1 on the socket: versioned paths, one kept connection", async () => {
  const list = [{
    Id: "1",
    Names: ["/web"],
    Image: "i",
    State: "running",
    Status: "Up",
    Labels: {},
    Created: 1,
  }];
  await using d = await fakeDaemon(
    versioned((a) =>
      a.line.startsWith("POST ") ? "HTTP/1.1 204 No Content\r\n\r\n" : json(200, list)
    ),
  );
  assert.equal(await d.engine.ping(), true);
  assert.equal(await d.engine.apiVersion(), "1.47");
  assert.deepEqual(await d.engine.listContainers({ filters: { label: ["a=b"] } }), list);
  await d.engine.restart("web", 3);
  assert.deepEqual(d.daemon.arrivals.map((a) => a.line), [
    "GET /_ping HTTP/1.1",
    "GET /version HTTP/1.1",
    "GET /v1.47/containers/json?all=1&filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%7D HTTP/1.1",
    "POST /v1.47/containers/web/restart?t=3 HTTP/1.1",
  ]);
  assert.equal(d.daemon.arrivals[0].headers[0], "host: docker");
  assert.equal(d.daemon.connections, 1, "the calls share one keep-alive connection");
});

Deno.test("the engine's refusals on the socket: status, bounds, bad heads, cut bodies, timeouts", async (t) => {
  const isDocker = (status: number, message: RegExp) => (e: unknown) =>
    e instanceof DockerError && e.status === status && message.test(e.message);
  await t.step("an error answer is its status and message, read up to 4 KiB", async () => {
    await using d = await fakeDaemon(
      versioned((a) =>
        a.line.includes("/nope/") ? json(404, { message: "No such container: nope" }) : json(500, {
          message: "m".repeat(10_000),
        })
      ),
    );
    await assert.rejects(d.engine.inspect("nope"), isDocker(404, /^No such container: nope$/));
    // Cut at 4 KiB, the JSON does not parse: the message is the text read.
    await assert.rejects(
      d.engine.inspect("big"),
      (e) => isDocker(500, /^\{"message":"m+$/)(e) && (e as Error).message.length === 4096,
    );
  });
  await t.step("a JSON answer over 8 MiB is a 502", async () => {
    const huge = `[${'"x",'.repeat(2_200_000)}"x"]`;
    await using d = await fakeDaemon(
      versioned(() => `HTTP/1.1 200 OK\r\ncontent-length: ${huge.length}\r\n\r\n${huge}`),
    );
    await assert.rejects(d.engine.listContainers(), isDocker(502, /exceeds the bound/));
  });
  await t.step("logs are cut at maxBytes", async () => {
    await using d = await fakeDaemon(versioned((a) =>
      a.line.includes("/logs?")
        ? {
          pieces: [
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
            "b\r\nline one\nab\r\n",
            "9\r\nline two\n\r\n",
            "0\r\n\r\n",
          ],
        }
        : json(200, { Config: { Tty: true }, State: {} })
    ));
    const all = await d.engine.logs("web");
    assert.deepEqual([all.text, all.truncated], ["line one\nabline two\n", false]);
    const cut = await d.engine.logs("web", { maxBytes: 12 });
    assert.deepEqual([cut.text, cut.truncated], ["line one\nabl", true]);
  });
  await t.step("a malformed head is unreachable (0), a cut body a 502", async () => {
    await using d = await fakeDaemon(
      versioned((a) =>
        a.line.includes("/bad/")
          ? "HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nabc"
          : { bytes: "HTTP/1.1 200 OK\r\ncontent-length: 900000\r\n\r\n[1,", close: true }
      ),
    );
    await assert.rejects(d.engine.inspect("bad"), isDocker(0, /unreachable at .*docker\.sock/));
    await assert.rejects(d.engine.inspect("cut"), isDocker(502, /broke off/));
  });
  await t.step(
    "a daemon that never answers times out; one that closes is unreachable",
    async () => {
      await using d = await fakeDaemon(
        versioned((a) => (a.line.includes("/hang/") ? "hang" : "close")),
        300,
      );
      await assert.rejects(d.engine.inspect("hang"), isDocker(0, /timed out/));
      await assert.rejects(d.engine.inspect("gone"), isDocker(0, /unreachable/));
      assert.equal(await d.engine.ping(), true, "the engine still answers after both");
    },
  );
});
