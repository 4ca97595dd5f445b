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
