// `deploy_app`'s project_dir is a folder under projects_root: one reached through a symlink that
// leads out of it (a link a project's own container could have made in its bind-mounted folder) is
// refused before anything is read or run, so a caller cannot deploy, and bind-mount, a compose
// file's folder elsewhere on the host. No daemon is needed: the refusal comes first.
import assert from "node:assert/strict";
import { signRequest } from "../../core/auth/mod.ts";
import { startIatpService, tempDir } from "../helpers.ts";

const KEY = "compose-agent-symlink-key-0123456789";

Deno.test("compose-agent: a project_dir through a symlink out of projects_root is a 400 naming it, nothing run", async () => {
  const dir = await tempDir();
  const outside = `${dir.path}/outside`;
  const projects = `${dir.path}/projects`;
  await Deno.mkdir(outside);
  await Deno.mkdir(`${projects}/app/real`, { recursive: true });
  const compose = 'services:\n  a:\n    image: busybox\n    volumes: [".:/host:ro"]\n';
  await Deno.writeTextFile(`${outside}/compose.yaml`, compose);
  await Deno.writeTextFile(`${projects}/app/real/compose.yaml`, compose);
  await Deno.symlink(outside, `${projects}/out`);
  await Deno.symlink("/", `${projects}/app/root`);
  await Deno.symlink("real", `${projects}/app/inner`);
  await Deno.mkdir(`${projects}/linked-file`);
  await Deno.symlink(`${outside}/compose.yaml`, `${projects}/linked-file/compose.yaml`);
  const agent = await startIatpService([
    "compose-agent",
    ...["--port", "0", "--docker-socket", `${dir.path}/none.sock`],
    ...["--projects-root", projects, "--work-dir", `${dir.path}/work`],
  ], {
    env: {
      IATP_DATA_DIR: dir.path,
      IATP_COMPOSE_AGENT_AGENT_ID: "compose-1",
      IATP_COMPOSE_AGENT_AGENT_TOKEN: KEY,
      AGENT_SCOPES: "compose:deploy_app,compose:remove_app",
    },
  });
  const deploy = async (id: string, project_dir: string | undefined, project = "p") => {
    const path = "/api/v1/commands/execute";
    const body = JSON.stringify({
      command_id: id,
      type: project_dir === undefined ? "remove_app" : "deploy_app",
      parameters: project_dir === undefined ? { project } : { project, project_dir, wait: false },
    });
    const h = await signRequest(KEY, { agentId: "status-panel", method: "POST", url: path, body });
    const res = await fetch(agent.url + path, {
      method: "POST",
      headers: { ...h, "content-type": "application/json" },
      body,
      signal: AbortSignal.timeout(30_000),
    });
    return { status: res.status, body: await res.json() };
  };
  try {
    for (const [id, projectDir] of [["l-1", "out"], ["l-2", `app/root${outside}`]]) {
      const r = await deploy(id, projectDir);
      assert.equal(r.status, 400, `${projectDir}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.field, "parameters.project_dir");
      assert.match(r.body.error, /leads outside projects_root through a symlink/);
      assert.ok(!r.body.error.includes(outside), "the host path it leads to is not named");
    }
    // A compose file that is itself a link out is not read (its shape is no oracle on host files).
    const file = await deploy("l-4", "linked-file");
    assert.equal(file.status, 400, JSON.stringify(file.body));
    assert.equal(file.body.field, "parameters.project_dir");
    assert.match(file.body.error, /the project's compose.yaml leads outside projects_root/);
    // remove_app without project_dir looks for the project's own folder: refused the same way,
    // naming the parameter the caller gave (the project), not one it did not.
    await Deno.symlink(outside, `${projects}/linked-project`);
    const named = await deploy("l-5", undefined, "linked-project");
    assert.equal(named.body.status, "failed", JSON.stringify(named.body));
    assert.equal(
      named.body.error,
      "parameters.project leads outside projects_root through a symlink",
    );
    // A link that stays inside projects_root is followed: the deploy runs (and fails only on
    // the daemon this test has none of).
    const inner = await deploy("l-3", "app/inner");
    assert.equal(inner.status, 200, JSON.stringify(inner.body));
    assert.equal(inner.body.status, "failed");
  } finally {
    await agent.stop("SIGTERM");
    await dir.remove();
  }
});
