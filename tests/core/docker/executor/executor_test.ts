import assert from "node:assert/strict";
import { type ContainerInspect, DockerEngine, scopeFor } from "../../../../core/docker/mod.ts";
import {
  ComposeRunner,
  DockerExecutor,
  parseCommand,
} from "../../../../core/docker/executor/mod.ts";
import { HttpError } from "../../../../core/errors/mod.ts";
import { registerSecret, silentLogger } from "../../../../core/log/mod.ts";
import { tempDir, waitFor } from "../../../helpers.ts";
import {
  dockerCli,
  ensureBusyboxImage,
  ensureDockerd,
  removeContainers,
  runContainer,
  uniqueName,
} from "../../../support/dockerd.ts";

/** The test Docker daemon; tests that need it are ignored (never passed) without one. */
const dockerd = await ensureDockerd();

/** A two-service project: `web` with a HEALTHCHECK that passes, `worker` without one. */
function twoServiceCompose(image: string): string {
  return `version: "2.4"
services:
  web:
    image: ${image}
    command: ["sh", "-c", "touch /tmp/ok; trap 'exit 0' TERM; while true; do sleep 1; done"]
    network_mode: none
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ok"]
      interval: 1s
      timeout: 2s
      retries: 2
  worker:
    image: ${image}
    command: ["sh", "-c", "echo worker up; trap 'exit 0' TERM; while true; do sleep 1; done"]
    network_mode: none
`;
}

function executorFor(socket: string, paths: { projectsRoot: string; workDir: string }) {
  const engine = new DockerEngine({ socket });
  const compose = new ComposeRunner({ socket, engine });
  const exec = new DockerExecutor({
    engine,
    compose,
    executedBy: "compose_agent",
    paths,
    maxLogBytes: 64 * 1024,
    maxComposeFileBytes: 64 * 1024,
    deployTimeoutMs: 120_000,
    log: silentLogger,
  });
  return { engine, compose, exec };
}

Deno.test("command parsing and scopes", async () => {
  assert.equal(scopeFor("restart"), "docker:restart");
  assert.equal(scopeFor("deploy_app"), "compose:deploy_app");
  assert.throws(() => parseCommand({ type: "restart" }), /command_id/);
  assert.throws(() => parseCommand({ command_id: "a b", type: "x" }), HttpError);
  assert.deepEqual(parseCommand({ command_id: "c1", type: "health" }).parameters, {});
  const { exec, engine } = executorFor("/nonexistent.sock", { projectsRoot: "/x", workDir: "/y" });
  try {
    for (
      const [type, parameters, field] of [
        ["restart", { name: "../etc" }, "parameters.name"],
        ["logs", { name: "web", tail: 0 }, "parameters.tail"],
        ["stop", {}, "parameters.name"],
        ["deploy_app", { project: "Bad.Name", compose_file: "x" }, "parameters.project"],
        ["deploy_app", { project: "ok", project_dir: "../../etc" }, "parameters.project_dir"],
        ["deploy_app", { project: "ok" }, "parameters.project_dir"],
        ["nuke", {}, "type"],
      ] as const
    ) {
      await assert.rejects(
        () => exec.prepare({ command_id: "c", type, parameters: { ...parameters } }),
        (e: unknown) => e instanceof HttpError && e.status === 400 && e.extra.field === field,
        `${type} ${JSON.stringify(parameters)}`,
      );
    }
    const r = await exec.execute({ command_id: "c9", type: "stop", parameters: { name: "-x" } });
    assert.deepEqual([r.status, r.executed_by], ["failed", "compose_agent"]);
    assert.match(r.error!, /parameters.name/);
  } finally {
    engine.close();
  }
});

Deno.test({
  name: "executor against a real dockerd: commands, logs redaction, deploy and remove",
  ignore: !dockerd.available,
}, async (t) => {
  const d = dockerd;
  const image = await ensureBusyboxImage(d.socket);
  const dir = await tempDir();
  const name = uniqueName("iatp-exec");
  const project = uniqueName("iatp-app").toLowerCase();
  const { exec, engine, compose } = executorFor(d.socket, {
    projectsRoot: `${dir.path}/projects`,
    workDir: `${dir.path}/work`,
  });
  const run = (type: string, parameters: Record<string, unknown>) =>
    exec.execute({ command_id: crypto.randomUUID(), type, parameters });
  try {
    registerSecret("sup3r-s3cret-value");
    await runContainer(d.socket, name, [
      // Labels are shown by inspect: one under a secret-looking key, one of a secret's shape.
      ...["--label", "app.db_password=lbl-pw-9", "--label", "app.url=https://u:lbl-url-pw@db/x"],
      image,
      "sh",
      "-c",
      "echo password=hunter2; echo token sup3r-s3cret-value; " +
      // A key printed over several lines: each is its own log line.
      "echo '-----BEGIN PRIVATE KEY-----'; echo MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcw; " +
      "echo kEF2pemKeyBody77; echo '-----END PRIVATE KEY-----'; echo after; " +
      "trap 'exit 0' TERM; " +
      "while true; do sleep 1; done",
    ]);
    await t.step("list_containers, inspect, health", async () => {
      const list = await run("list_containers", {});
      assert.equal(list.status, "success");
      const row = (list.result as Array<{ name: string; state: string }>).find((c) =>
        c.name === name
      );
      assert.equal(row?.state, "running");
      const ins = await run("inspect", { name });
      assert.equal((ins.result as { running: boolean }).running, true);
      const labels = (ins.result as { labels: Record<string, string> }).labels;
      assert.equal(labels["app.db_password"], "[REDACTED]", "a label under a secret's key");
      assert.equal(labels["app.url"], "https://u:[REDACTED]@db/x", "a password in a URL label");
      const h = await run("health", {});
      assert.equal((h.result as { docker: string }).docker, "ok");
    });
    await t.step("logs are redacted", async () => {
      let lines: string[] = [];
      await waitFor(
        async () => {
          const got = (await run("logs", { name, tail: 10 })).result as {
            lines: Array<{ message: string }>;
          };
          lines = got.lines.map((l) => l.message);
          return lines.length >= 7;
        },
        10_000,
        "seven log lines",
      );
      assert.deepEqual(lines, [
        "password=[REDACTED]",
        "token [REDACTED]",
        "[REDACTED]",
        "[REDACTED]",
        "[REDACTED]",
        "[REDACTED]",
        "after",
      ]);
    });
    await t.step("stop, start, restart; unknown container fails", async () => {
      assert.equal(
        ((await run("stop", { name, timeout_secs: 2 })).result as { state: string }).state,
        "exited",
      );
      assert.equal(((await run("start", { name })).result as { running: boolean }).running, true);
      assert.equal((await run("restart", { name, timeout_secs: 2 })).status, "success");
      const missing = await run("restart", { name: `${name}-missing` });
      assert.equal(missing.status, "failed");
      assert.match(missing.error!, /No such container/i);
    });
    await t.step("deploy_app of an inline two-service project, gated on health", async () => {
      const r = await run("deploy_app", { project, compose_file: twoServiceCompose(image) });
      assert.equal(r.status, "success", JSON.stringify(r));
      const services = (r.result as { services: Array<Record<string, unknown>> }).services;
      assert.deepEqual(services.map((s) => [s.service, s.state, s.health]), [
        ["web", "running", "healthy"],
        ["worker", "running", null],
      ]);
    });
    await t.step("remove_app takes the project down", async () => {
      const r = await run("remove_app", { project, stop_timeout_secs: 1 });
      assert.equal(r.status, "success", JSON.stringify(r));
      assert.deepEqual(await compose.services(project), []);
    });
    await t.step("deploy_app from a project dir whose service fails its health gate", async () => {
      const bad = twoServiceCompose(image).replace('"touch /tmp/ok; ', '"');
      await Deno.mkdir(`${dir.path}/projects/${project}`, { recursive: true });
      await Deno.writeTextFile(`${dir.path}/projects/${project}/compose.yaml`, bad);
      const r = await run("deploy_app", { project, project_dir: project, wait_timeout_secs: 60 });
      assert.equal(r.status, "failed", JSON.stringify(r));
      assert.match(r.error!, /health gate failed: .*web.* is unhealthy/);
      const down = await run("remove_app", { project, project_dir: project, stop_timeout_secs: 1 });
      assert.equal(down.status, "success");
    });
    await t.step(
      "a compose file that compose rejects is a failed result with the output",
      async () => {
        const r = await run("deploy_app", {
          project,
          compose_file: "services:\n  web:\n    image: 42\n    not_a_compose_key: 1\n",
        });
        assert.equal(r.status, "failed");
        assert.match(r.error!, /compose up exited with code [1-9]/);
        assert.ok(String((r.result as { output: string }).output).length > 0);
      },
    );
  } finally {
    engine.close();
    await removeContainers(d.socket, [name]);
    await dockerCli(d.socket, ["rm", "-f", `${project}_web_1`, `${project}_worker_1`]);
    await dir.remove();
  }
});

Deno.test({
  name: "a deployed compose file reads nothing of the agent's environment (its keys and tokens)",
  ignore: !dockerd.available,
}, async () => {
  const socket = dockerd.socket;
  const image = await ensureBusyboxImage(socket);
  const dir = await tempDir();
  const project = uniqueName("iatp-env").toLowerCase();
  const { exec } = executorFor(socket, {
    projectsRoot: `${dir.path}/projects`,
    workDir: `${dir.path}/work`,
  });
  const secret = `agent-key-${crypto.randomUUID()}`;
  Deno.env.set("IATP_COMPOSE_AGENT_AGENT_TOKEN", secret);
  // `environment: [VAR]` without a value and `${VAR}` are both filled from compose's environment.
  const file = `services:\n  web:\n    image: ${image}\n    network_mode: none\n` +
    `    environment: [IATP_COMPOSE_AGENT_AGENT_TOKEN]\n` +
    `    labels: {copied: "\${IATP_COMPOSE_AGENT_AGENT_TOKEN:-none}"}\n` +
    `    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]\n`;
  const run = (type: string, parameters: Record<string, unknown>) =>
    exec.execute({ command_id: crypto.randomUUID(), type, parameters });
  try {
    const r = await run("deploy_app", { project, compose_file: file });
    assert.equal(r.status, "success", JSON.stringify(r));
    const ps = await dockerCli(socket, [
      "ps",
      "-q",
      "--filter",
      `label=com.docker.compose.project=${project}`,
    ]);
    const id = ps.stdout.trim();
    assert.notEqual(id, "");
    const seen = await dockerCli(socket, ["inspect", "--format", "{{json .Config}}", id]);
    assert.equal(seen.code, 0, seen.stderr);
    assert.ok(!seen.stdout.includes(secret), "the agent's key reached the container");
    assert.match(seen.stdout, /"copied":"none"/);
  } finally {
    Deno.env.delete("IATP_COMPOSE_AGENT_AGENT_TOKEN");
    await run("remove_app", { project, stop_timeout_secs: 1 });
    await dir.remove();
  }
});

Deno.test({
  name:
    "a failed or refused inline deploy leaves no working copy; one that succeeded or is running keeps its own",
  ignore: !dockerd.available,
}, async (t) => {
  const socket = dockerd.socket;
  const image = await ensureBusyboxImage(socket);
  const dir = await tempDir();
  const work = `${dir.path}/work`;
  const { exec, compose, engine } = executorFor(socket, {
    projectsRoot: `${dir.path}/projects`,
    workDir: work,
  });
  const run = (type: string, parameters: Record<string, unknown>) =>
    exec.execute({ command_id: crypto.randomUUID(), type, parameters });
  const exists = (path: string) => Deno.stat(path).then(() => true, () => false);
  const names = async () => {
    const out: string[] = [];
    if (await exists(work)) { for await (const e of Deno.readDir(work)) out.push(e.name); }
    return out.sort();
  };
  const loop = `["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]`;
  const good =
    `services:\n  web:\n    image: ${image}\n    network_mode: none\n    command: ${loop}\n`;
  // compose refuses it before creating anything: no containers.
  const broken = `services:\n  web:\n    image: ${image}\n    network_mode: none\n` +
    `    depends_on: [missing]\n`;
  const projects: string[] = [];
  const project = (tag: string) => {
    const p = uniqueName(`iatp-wc-${tag}`).toLowerCase();
    projects.push(p);
    return p;
  };
  try {
    await t.step("refused by the allow-list: nothing is written", async () => {
      const p = project("refused");
      const r = await run("deploy_app", {
        project: p,
        compose_file: `services:\n  web:\n    image: ${image}\n    privileged: true\n`,
      });
      assert.equal(r.status, "failed");
      assert.match(String(r.error), /privileged/);
      assert.deepEqual(await names(), []);
    });
    await t.step("compose fails and nothing runs: the working copy is removed", async () => {
      for (let i = 0; i < 3; i++) {
        const r = await run("deploy_app", { project: project(`fail${i}`), compose_file: broken });
        assert.equal(r.status, "failed", JSON.stringify(r));
      }
      assert.deepEqual(await names(), []);
    });
    await t.step("a failed deploy that left containers keeps its copy for remove_app", async () => {
      const p = project("exited");
      const file = `services:\n  web:\n    image: ${image}\n    network_mode: none\n` +
        `    command: ["sh", "-c", "exit 3"]\n`;
      const r = await run("deploy_app", { project: p, compose_file: file });
      assert.equal(r.status, "failed", JSON.stringify(r));
      assert.match(String(r.error), /health gate failed/);
      assert.notDeepEqual(await compose.services(p), []);
      assert.equal(await Deno.readTextFile(`${work}/${p}/docker-compose.yml`), file);
      const down = await run("remove_app", { project: p, stop_timeout_secs: 1 });
      assert.equal(down.status, "success", JSON.stringify(down));
      assert.equal(await exists(`${work}/${p}`), false);
    });
    await t.step("a failed redeploy puts back the copy of the deploy that succeeded", async () => {
      const p = project("redeploy");
      assert.equal((await run("deploy_app", { project: p, compose_file: good })).status, "success");
      const r = await run("deploy_app", { project: p, compose_file: broken });
      assert.equal(r.status, "failed", JSON.stringify(r));
      assert.deepEqual(
        [...Deno.readDirSync(`${work}/${p}`)].map((e) => e.name),
        ["docker-compose.yml"],
      );
      assert.equal(await Deno.readTextFile(`${work}/${p}/docker-compose.yml`), good);
      assert.deepEqual((await compose.services(p)).map((s) => s.state), ["running"]);
      const down = await run("remove_app", { project: p, stop_timeout_secs: 1 });
      assert.equal(down.status, "success", JSON.stringify(down));
    });
    await t.step(
      "a deploy asked for while one of the project runs fails without touching it",
      async () => {
        const p = project("running");
        // Healthy once the test opens the gate (a file in the bind-mounted folder): the first
        // deploy is still running while the second one is asked for.
        const gated = `services:\n  web:\n    image: ${image}\n    network_mode: none\n` +
          `    volumes: ["./gate:/gate"]\n    command: ${loop}\n` +
          `    healthcheck: {test: ["CMD", "test", "-f", "/gate/open"], interval: 1s, retries: 100}\n`;
        const first = run("deploy_app", {
          project: p,
          compose_file: gated,
          wait_timeout_secs: 120,
        });
        // dockerd makes a missing bind-mount folder as the container starts, which may come
        // after the container is listed: the test makes it if it is not there yet.
        const open = async () => {
          await Deno.mkdir(`${work}/${p}/gate`, { recursive: true });
          await Deno.writeTextFile(`${work}/${p}/gate/open`, "");
          return await first;
        };
        try {
          await waitFor(
            async () => (await compose.services(p)).length > 0,
            60_000,
            "the first deploy's container",
          );
          const second = await run("deploy_app", { project: p, compose_file: broken });
          assert.equal(second.status, "failed");
          assert.match(String(second.error), /has a deploy_app or remove_app running/);
          const removing = await run("remove_app", { project: p, stop_timeout_secs: 1 });
          assert.equal(removing.status, "failed");
          assert.equal(await Deno.readTextFile(`${work}/${p}/docker-compose.yml`), gated);
        } catch (err) {
          // The first deploy is let finish, so that the cleanup's remove_app is not refused as
          // running and takes its container down.
          await open();
          throw err;
        }
        const r = await open();
        assert.equal(r.status, "success", JSON.stringify(r));
        assert.equal(await Deno.readTextFile(`${work}/${p}/docker-compose.yml`), gated);
        const down = await run("remove_app", { project: p, stop_timeout_secs: 1 });
        assert.equal(down.status, "success", JSON.stringify(down));
      },
    );
  } finally {
    for (const p of projects) await run("remove_app", { project: p, stop_timeout_secs: 1 });
    // Whatever a failed step left that remove_app could not take down.
    for (const p of projects) {
      const left = await engine.listContainers({
        all: true,
        filters: { label: [`com.docker.compose.project=${p}`] },
      }).catch(() => []);
      await removeContainers(socket, left.map((c) => c.Id));
    }
    await dir.remove();
  }
});

/**
 * An engine that removes the container asked about, once armed, just before inspecting it: a
 * real removal in the window between a list and its inspects. It counts the lists.
 */
class RemovingEngine extends DockerEngine {
  armed = false;
  lists = 0;
  constructor(private readonly daemon: string) {
    super({ socket: daemon });
  }
  override listContainers(opts?: Parameters<DockerEngine["listContainers"]>[0]) {
    this.lists++;
    return super.listContainers(opts);
  }
  override async inspect(name: string): Promise<ContainerInspect> {
    if (this.armed) {
      this.armed = false;
      const rm = await dockerCli(this.daemon, ["rm", "-f", name]);
      assert.equal(rm.code, 0, rm.stderr);
    }
    return await super.inspect(name);
  }
}

Deno.test({
  name:
    "a project's container removed between the list and its inspect is left out of its services, and the health gate looks again",
  ignore: !dockerd.available,
}, async (t) => {
  const socket = dockerd.socket;
  const image = await ensureBusyboxImage(socket);
  const project = uniqueName("iatp-race").toLowerCase();
  const names = ["a", "b", "c"].map((s) => uniqueName(`iatp-race-${s}`));
  const engine = new RemovingEngine(socket);
  const compose = new ComposeRunner({ socket, engine });
  try {
    for (const [i, name] of names.entries()) {
      await runContainer(socket, name, [
        ...["--label", `com.docker.compose.project=${project}`],
        ...["--label", `com.docker.compose.service=s${i}`],
        image,
        ...["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"],
      ]);
    }
    await t.step("services leaves the removed one out", async () => {
      engine.armed = true;
      const services = await compose.services(project);
      assert.equal(engine.armed, false, "a container was removed between list and inspect");
      assert.equal(services.length, 2, JSON.stringify(services));
      assert.ok(services.every((s) => s.state === "running"), JSON.stringify(services));
    });
    await t.step("the gate concludes only from a look where none went", async () => {
      engine.armed = true;
      engine.lists = 0;
      const gate = await compose.waitHealthy(project, 60_000, 10);
      assert.equal(gate.ok, true, JSON.stringify(gate));
      assert.equal(gate.services.length, 1, JSON.stringify(gate));
      // The first look had one running container left and one gone: it decided nothing.
      assert.equal(engine.lists, 2);
    });
  } finally {
    await removeContainers(socket, names);
  }
});

Deno.test({
  name: "an inline deploy whose working copy cannot be written is failed, not a crash",
  // The daemon is asked first whether the project is another folder's.
  ignore: !dockerd.available,
}, async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir.path}/file`, "");
  // work_dir below a regular file: the folder cannot be made.
  const { exec, engine } = executorFor(dockerd.socket, {
    projectsRoot: `${dir.path}/projects`,
    workDir: `${dir.path}/file/work`,
  });
  try {
    const r = await exec.execute({
      command_id: "c-1",
      type: "deploy_app",
      parameters: { project: "web", compose_file: "services:\n  web:\n    image: busybox\n" },
    });
    assert.equal(r.status, "failed");
    assert.match(String(r.error), /cannot write the working copy under work_dir \(NotADirectory\)/);
  } finally {
    engine.close();
    await dir.remove();
  }
});

Deno.test({
  name: "deploy_app and remove_app refuse a project of the same name deployed from another folder",
  ignore: !dockerd.available,
}, async () => {
  const socket = dockerd.socket;
  const image = await ensureBusyboxImage(socket);
  const dir = await tempDir();
  const { exec, compose } = executorFor(socket, {
    projectsRoot: `${dir.path}/projects`,
    workDir: `${dir.path}/work`,
  });
  const run = (type: string, parameters: Record<string, unknown>) =>
    exec.execute({ command_id: crypto.randomUUID(), type, parameters });
  const loop = `["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]`;
  // The operator's own project (the mesh, say), deployed from a folder the agent does not own,
  // with a named volume holding its data.
  const victim = uniqueName("iatp-victim").toLowerCase();
  const victimDir = `${dir.path}/elsewhere`;
  await Deno.mkdir(victimDir, { recursive: true });
  await Deno.writeTextFile(
    `${victimDir}/docker-compose.yml`,
    `services:\n  db:\n    image: ${image}\n    network_mode: none\n    command: ${loop}\n` +
      `    volumes: [data:/data]\nvolumes:\n  data: {}\n`,
  );
  try {
    const up = await compose.up(victim, victimDir, "docker-compose.yml", 60_000);
    assert.equal(up.code, 0, up.stderr);
    // Named as the victim, a file of the caller's would take its volume and, with
    // --remove-orphans, remove its containers.
    const thief = `services:\n  x:\n    image: ${image}\n    network_mode: none\n` +
      `    command: ${loop}\n    volumes: [data:/stolen]\nvolumes:\n  data: {}\n`;
    const r = await run("deploy_app", { project: victim, compose_file: thief, wait: false });
    assert.equal(r.status, "failed", JSON.stringify(r));
    assert.match(String(r.error), /deployed from another folder/);
    assert.deepEqual((await compose.services(victim)).map((s) => [s.service, s.state]), [
      ["db", "running"],
    ]);
    assert.equal(
      await Deno.stat(`${dir.path}/work/${victim}`).then(() => true, () => false),
      false,
      "nothing written",
    );
    // Nor may a project folder of the agent's take it down under the victim's name.
    await Deno.mkdir(`${dir.path}/projects/mine`, { recursive: true });
    await Deno.writeTextFile(`${dir.path}/projects/mine/compose.yaml`, thief);
    const rm = await run("remove_app", {
      project: victim,
      project_dir: "mine",
      remove_volumes: true,
      stop_timeout_secs: 1,
    });
    assert.equal(rm.status, "failed", JSON.stringify(rm));
    assert.match(String(rm.error), /deployed from another folder/);
    assert.deepEqual((await compose.services(victim)).map((s) => s.state), ["running"]);
  } finally {
    await compose.down(victim, victimDir, "docker-compose.yml", {
      stopSecs: 1,
      volumes: true,
      timeoutMs: 60_000,
    });
    await dir.remove();
  }
});
