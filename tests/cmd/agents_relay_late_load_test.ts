// The host agents load the relay's client only with a relay_url. When that load fails (the module
// unreadable, as after an install replaced under a running agent) the start is refused, and what
// the start had opened is closed with it: the Vault key's refresh timer above all, which would
// otherwise keep a refused agent's process (or an `iatp up` that started it in-process) alive.
import assert from "node:assert/strict";
import { ROOT, spawnChild } from "../helpers.ts";

/** A fake Vault KV v2 that serves a key of its own at every path, counting the reads. */
function fakeVault() {
  let reads = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    if (req.headers.get("x-vault-token") !== "root-vault-token") {
      return Response.json({ errors: ["permission denied"] }, { status: 403 });
    }
    reads++;
    const token = `vault-key-${new URL(req.url).pathname.split("/").pop()}-0123456789abcdef`;
    return Response.json({ data: { data: { token }, metadata: { version: 1 } } });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    reads: () => reads,
    close: () => server.shutdown(),
  };
}

async function refusedStart(
  which: "status" | "compose-agent",
  config: Record<string, unknown>,
  unreadable = "core/relay/client/mod.ts",
) {
  const dir = await Deno.makeTempDir({ prefix: "iatp-agent-relay-" });
  const child = spawnChild(Deno.execPath(), [
    ...["run", "--quiet", "--no-prompt", "--cached-only", "-A"],
    `--deny-read=${ROOT}${unreadable}`,
    `${ROOT}tests/support/agent_start_refused.ts`,
    which,
    JSON.stringify(config),
  ], { env: { IATP_DATA_DIR: dir } });
  try {
    // The refused start leaves nothing running: the process ends by itself.
    const ended = await Promise.race([
      child.process.status.then(() => true),
      new Promise<false>((r) => setTimeout(() => r(false), 15_000)),
    ]);
    assert.ok(ended, `still running after a refused start: ${child.stdout()}${child.stderr()}`);
    return child.stdout() + child.stderr();
  } finally {
    await child.stop("SIGKILL");
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("status: a relay client that cannot be loaded refuses the start and stops the Vault key's refresh", async () => {
  const vault = fakeVault();
  try {
    const out = await refusedStart("status", {
      port: 0,
      agent_id: "relay-late-status",
      deployment_hash: "dep-relay-late",
      relay_url: "http://127.0.0.1:9",
      vault: { address: vault.url, token: "root-vault-token", refresh: "1s" },
    });
    assert.match(out, /refused: .*core\/relay\/client\/mod\.ts/);
    assert.ok(vault.reads() >= 1, "the key was read from Vault before the refusal");
  } finally {
    await vault.close();
  }
});

Deno.test("compose-agent: a relay client that cannot be loaded refuses the start and stops the Vault key's refresh", async () => {
  const vault = fakeVault();
  try {
    const out = await refusedStart("compose-agent", {
      port: 0,
      agent_id: "relay-late-compose",
      deployment_hash: "dep-relay-late",
      relay_url: "http://127.0.0.1:9",
      docker_socket: "/nonexistent/docker.sock",
      vault: { address: vault.url, token: "root-vault-token", refresh: "1s" },
    });
    assert.match(out, /refused: .*core\/relay\/client\/mod\.ts/);
    assert.ok(vault.reads() >= 1, "the key was read from Vault before the refusal");
  } finally {
    await vault.close();
  }
});

// In legacy mode the status agent loads the Docker Engine client (core/docker) and the command
// executor with its start, after the key and the relay's client: a failed load refuses the start
// naming the module, and closes what the start had opened.
for (const unreadable of ["core/docker/mod.ts", "core/docker/executor/mod.ts"]) {
  Deno.test(`status (legacy): ${unreadable} that cannot be loaded refuses the start and stops the Vault key's refresh`, async () => {
    const vault = fakeVault();
    try {
      const out = await refusedStart("status", {
        port: 0,
        legacy: true,
        agent_id: "docker-late-status",
        deployment_hash: "dep-docker-late",
        docker_socket: "/nonexistent/docker.sock",
        relay_url: "http://127.0.0.1:9",
        vault: { address: vault.url, token: "root-vault-token", refresh: "1s" },
      }, unreadable);
      assert.match(out, new RegExp(`refused: .*${unreadable.replaceAll(".", "\\.")}`));
      assert.ok(vault.reads() >= 1, "the key was read from Vault before the refusal");
    } finally {
      await vault.close();
    }
  });
}

Deno.test("iatp status --legacy: a Docker Engine client that cannot be loaded exits 1, naming the module", async () => {
  const dir = await Deno.makeTempDir({ prefix: "iatp-agent-docker-" });
  const child = spawnChild(Deno.execPath(), [
    ...["run", "--quiet", "--no-prompt", "--cached-only", "-A"],
    `--deny-read=${ROOT}core/docker/engine.ts`,
    `${ROOT}cmd/status.ts`,
    ...["--legacy", "--port", "0", "--docker-socket", "/nonexistent/docker.sock"],
  ], { env: { IATP_DATA_DIR: dir } });
  try {
    const status = await Promise.race([
      child.process.status,
      new Promise<undefined>((r) => setTimeout(() => r(undefined), 15_000)),
    ]);
    assert.equal(status?.code, 1, `${child.stdout()}${child.stderr()}`);
    assert.match(child.stderr(), /iatp status: .*core\/docker\/engine\.ts/);
    assert.doesNotMatch(child.stdout(), /"listening"/);
  } finally {
    await child.stop("SIGKILL");
    await Deno.remove(dir, { recursive: true });
  }
});
