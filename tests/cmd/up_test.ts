/**
 * `iatp up` settings: --base-port moves every port, --agent-url puts a sidecar in front of your
 * agent without the demo, and the combinations that cannot start are config errors.
 */
import assert from "node:assert/strict";
import { command } from "../../cmd/up.ts";
import { portOf, spec } from "../../cmd/up/config.ts";
import { ensureCredentials, startDemoAgent } from "../../core/mesh/mod.ts";
import { decodeClaims } from "../../core/auth/mod.ts";
import { ConfigError } from "../../core/errors/mod.ts";
import { createLogger } from "../../core/log/mod.ts";
import { LAUNCHER, loaded, tempDir, waitFor } from "../helpers.ts";

const noEnv = { env: () => undefined };

Deno.test("--base-port moves every port; a port of its own wins", async () => {
  const c = loaded(await spec.parse(["--base-port", "9000", "--audit-port", "7003"], noEnv)).config;
  assert.equal(portOf(c, "agent_port"), 9000);
  assert.equal(portOf(c, "relay_port"), 9005);
  assert.equal(portOf(c, "untrusted_sidecar_port"), 9011);
  assert.equal(portOf(c, "action_port"), 9087);
  assert.equal(portOf(c, "audit_port"), 7003);
  const d = loaded(await spec.parse([], noEnv)).config;
  assert.equal(portOf(d, "dashboard_port"), 8004, "the usual ports by default");
  await assert.rejects(() => spec.parse(["--base-port", "65500"], noEnv), (err) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.key, "base_port");
    return true;
  });
});

Deno.test("--no-demo --services sidecar needs --agent-url, and then fronts that agent", async () => {
  await assert.rejects(() => spec.parse(["--no-demo", "--services", "sidecar"], noEnv), (err) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.key, "agent_url");
    return true;
  });
  const dir = await tempDir();
  const log = createLogger({ service: "up-test", level: "error", sink: () => {} });
  const agent = await startDemoAgent({ host: "127.0.0.1", port: 0, log });
  try {
    const config = loaded(
      await spec.parse([
        "--no-demo",
        "--services",
        "sidecar",
        "--agent-url",
        agent.url,
        "--base-port",
        "0",
        "--data-dir",
        dir.path,
      ], noEnv),
    ).config;
    const mesh = await command.start(config, { log });
    try {
      assert.deepEqual(Object.keys(mesh.urls), ["sidecar"]);
      const r = await fetch(`${mesh.urls.sidecar}/proxy/chat`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ text: "hello" }),
      });
      assert.equal(r.status, 200);
      assert.match((await r.json()).reply, /You said: hello/);
    } finally {
      await mesh.close();
    }
  } finally {
    await agent.close();
    await dir.remove();
  }
});

Deno.test("up: SIGINT the moment the banner is out stops the mesh cleanly (exit 0), every time", async () => {
  // The banner ends with "Ctrl-C stops everything.", so a script (or a person) may stop the mesh
  // as soon as it reads that line: the stop handlers must already be bound by then.
  const dir = await tempDir();
  try {
    for (let run = 0; run < 8; run++) {
      const child = new Deno.Command(LAUNCHER, {
        args: [
          "up",
          "--data-dir",
          dir.path,
          "--base-port",
          "0",
          "--no-demo",
          "--services",
          "relay",
        ],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const stderr = new Response(child.stderr).text();
      const dec = new TextDecoder();
      let out = "";
      let signalled = false;
      for await (const chunk of child.stdout) {
        out += dec.decode(chunk, { stream: true });
        if (!signalled && out.includes("Ctrl-C stops everything.")) {
          child.kill("SIGINT");
          signalled = true;
        }
      }
      const status = await child.status;
      assert.ok(signalled, `run ${run}: no banner\n${out}\n${await stderr}`);
      assert.equal(status.code, 0, `run ${run}: exit ${status.code}\n${await stderr}`);
    }
  } finally {
    await dir.remove();
  }
});

Deno.test("up: the curl line of the banner runs as printed, with a data dir holding quotes and spaces", async () => {
  const dir = await tempDir();
  const data = `${dir.path}/it's "my" data é`;
  const child = new Deno.Command(LAUNCHER, {
    args: ["up", "--data-dir", data, "--base-port", "0", "--no-demo", "--services", "relay"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  try {
    const dec = new TextDecoder();
    let out = "";
    for await (const chunk of child.stdout) {
      out += dec.decode(chunk, { stream: true });
      if (out.includes("Ctrl-C stops everything.")) break;
    }
    const line = out.split("\n").find((l) => l.trimStart().startsWith("curl "));
    assert.ok(line, `no curl line in the banner\n${out}\n`);
    const r = await new Deno.Command("bash", {
      args: ["-c", `${line.trim()} -sS --fail --max-time 10`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = dec.decode(r.stdout);
    assert.equal(r.code, 0, `${line}\n${dec.decode(r.stderr)}`);
    assert.ok(Array.isArray(JSON.parse(text).topics), text);
  } finally {
    child.kill("SIGINT");
    const status = await child.status;
    await child.stdout.cancel().catch(() => {});
    assert.equal(status.code, 0, await stderr);
    await dir.remove();
  }
});

Deno.test("up: the relay's history is kept in the data dir, so a restart resumes where it was", async () => {
  const dir = await tempDir();
  const data = `${dir.path}/my data`;
  const start = async () => {
    const child = new Deno.Command(LAUNCHER, {
      args: ["up", "--data-dir", data, "--base-port", "0", "--no-demo", "--services", "relay"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    const dec = new TextDecoder();
    let out = "";
    for await (const chunk of child.stdout) {
      out += dec.decode(chunk, { stream: true });
      if (out.includes("Ctrl-C stops everything.")) break;
    }
    const url = /relay\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
    assert.ok(url, out);
    const stop = async () => {
      child.kill("SIGINT");
      const status = await child.status;
      await child.stdout.cancel().catch(() => {});
      assert.equal(status.code, 0, await stderr);
    };
    return { url, stop };
  };
  const token = async () => (await Deno.readTextFile(`${data}/credentials/admin.token`)).trim();
  try {
    const first = await start();
    let id: string;
    try {
      const res = await fetch(`${first.url}/publish`, {
        method: "POST",
        headers: { authorization: `Bearer ${await token()}`, "content-type": "application/json" },
        body: JSON.stringify({ topic: "access.intent", payload: { tx_id: "kept" } }),
      });
      const body = await res.text();
      assert.ok(res.ok, body);
      id = JSON.parse(body).id;
    } finally {
      await first.stop();
    }
    const second = await start();
    try {
      // Resuming from before the event: no reset, the event itself.
      // A stream that never brings the event ends at the test's own bound.
      const ac = new AbortController();
      const bound = setTimeout(() => ac.abort(), 15_000);
      const res = await fetch(`${second.url}/subscribe?topic=access.intent&since=0`, {
        headers: { authorization: `Bearer ${await token()}`, accept: "text/event-stream" },
        signal: ac.signal,
      });
      assert.equal(res.status, 200);
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      try {
        while (!text.includes('"kept"')) {
          const { value, done } = await reader.read();
          if (done) break;
          text += value;
        }
      } catch { /* the bound */ }
      clearTimeout(bound);
      ac.abort();
      await reader.cancel().catch(() => {});
      assert.match(text, new RegExp(`id: ${id}\\b`));
      assert.doesNotMatch(text, /event: reset/);
    } finally {
      await second.stop();
    }
  } finally {
    await dir.remove();
  }
});

Deno.test("up: a port setting that names another service's port is exit 2 naming it, before anything starts", async () => {
  // --relay-port 19101 with --base-port 19100 is the trusted sidecar's port (base + 1): up used to
  // start the relay there, then stop naming sidecar_port as "in use by another process".
  const dir = await tempDir();
  const data = `${dir.path}/data`;
  try {
    const out = await new Deno.Command(LAUNCHER, {
      args: ["up", "--data-dir", data, "--base-port", "19100", "--relay-port", "19101"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 2, stderr);
    assert.match(stderr, /^iatp up: config error: relay_port \(flag --relay-port\): /);
    assert.match(stderr, /found 19101, the sidecar_port too \(base port \+ 1\)/);
    await assert.rejects(() => Deno.stat(data), Deno.errors.NotFound, "nothing was written");
    // Ports only services that are not started would take do not collide.
    const c = loaded(
      await spec.parse(["--base-port", "19100", "--relay-port", "19101", "--services", "relay"], {
        env: () => undefined,
      }),
    ).config;
    assert.equal(portOf(c, "relay_port"), 19101);
  } finally {
    await dir.remove();
  }
});

Deno.test("up: under umask 0 the data dir it makes is 0700 and every file in it 0600, -wal and -shm too", async () => {
  const dir = await tempDir();
  const data = `${dir.path}/new/data`;
  const child = new Deno.Command("sh", {
    args: [
      "-c",
      'umask 000 && exec "$0" "$@"',
      LAUNCHER,
      "up",
      "--data-dir",
      data,
      "--base-port",
      "0",
      "--no-demo",
      "--services",
      "relay,audit,policy",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  try {
    const dec = new TextDecoder();
    let out = "";
    for await (const chunk of child.stdout) {
      out += dec.decode(chunk, { stream: true });
      if (out.includes("Ctrl-C stops everything.")) break;
    }
    assert.ok(out.includes("Ctrl-C stops everything."), out);
    const modes: string[] = [];
    const walk = (at: string) => {
      const info = Deno.statSync(at);
      modes.push(`${(info.mode! & 0o777).toString(8)} ${at.slice(dir.path.length)}`);
      if (info.isDirectory) { for (const e of Deno.readDirSync(at)) walk(`${at}/${e.name}`); }
    };
    walk(`${dir.path}/new`);
    for (const name of ["relay.db", "audit.db", "policy-state.db"]) {
      for (const suffix of ["", "-wal", "-shm"]) {
        assert.ok(modes.includes(`600 /new/data/${name}${suffix}`), modes.join("\n"));
      }
    }
    assert.ok(modes.includes("700 /new/data/credentials"), modes.join("\n"));
    const loose = modes.filter((m) => !/^(600|700) /.test(m));
    assert.deepEqual(loose, [], modes.join("\n"));
  } finally {
    child.kill("SIGINT");
    const status = await child.status;
    await child.stdout.cancel().catch(() => {});
    await dir.remove();
    assert.equal(status.code, 0, await stderr);
  }
});

Deno.test("up: a data dir other users may read is kept as it is, with a notice", async () => {
  const dir = await tempDir();
  Deno.chmodSync(dir.path, 0o755);
  const child = new Deno.Command(LAUNCHER, {
    args: ["up", "--data-dir", dir.path, "--base-port", "0", "--no-demo", "--services", "relay"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const dec = new TextDecoder();
  let out = "";
  try {
    for await (const chunk of child.stdout) {
      out += dec.decode(chunk, { stream: true });
      if (out.includes("Ctrl-C stops everything.")) break;
    }
    assert.ok(out.includes("Ctrl-C stops everything."), out);
  } finally {
    child.kill("SIGINT");
    await child.status;
    await child.stdout.cancel().catch(() => {});
  }
  try {
    // Log lines go to stdout, before the banner.
    const lines = out.split("\n").filter((l) => l.includes("other users may read"));
    assert.equal(lines.length, 1, `${out}\n${await stderr}`);
    assert.deepEqual(JSON.parse(lines[0]).fields, { path: dir.path, mode: "0755" });
    assert.equal((Deno.statSync(dir.path).mode! & 0o777).toString(8), "755");
    assert.equal((Deno.statSync(`${dir.path}/relay.db`).mode! & 0o777).toString(8), "600");
  } finally {
    await dir.remove();
  }
});

Deno.test("up: a jti appended to credentials/revoked is refused by every service, no restart", async () => {
  const dir = await tempDir();
  const log = createLogger({ service: "up-test", level: "error", sink: () => {} });
  try {
    const config = loaded(
      await spec.parse([
        "--no-demo",
        "--services",
        "relay,audit,policy",
        "--base-port",
        "0",
        "--data-dir",
        dir.path,
      ], noEnv),
    ).config;
    const mesh = await command.start(config, { log });
    const file = `${mesh.credentials.dir}/revoked`;
    const admin = mesh.credentials.token("admin");
    const calls = {
      relay: () =>
        fetch(`${mesh.urls.relay}/topics`, { headers: { authorization: `Bearer ${admin}` } }),
      policy: () =>
        fetch(`${mesh.urls.policy}/policies`, { headers: { authorization: `Bearer ${admin}` } }),
      audit: () =>
        fetch(`${mesh.urls.audit}/audit`, {
          method: "POST",
          headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
          body: JSON.stringify({ tx_id: "up-revoke", event: "e", actor: "op", payload: {} }),
        }),
    };
    try {
      assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
      for (const [name, call] of Object.entries(calls)) {
        const res = await call();
        assert.equal(res.status, 200, `${name} before`);
        await res.body?.cancel();
      }
      await Deno.writeTextFile(file, `${decodeClaims(admin).jti}\n`, { append: true });
      for (const [name, call] of Object.entries(calls)) {
        await waitFor(
          async () => {
            const res = await call();
            await res.body?.cancel();
            return res.status === 401;
          },
          10_000,
          `${name} to refuse the revoked credential`,
        );
      }
    } finally {
      await mesh.close();
    }
    // The next start issues the revoked identity a new credential, and only that one.
    const again = await ensureCredentials(dir.path, log);
    assert.deepEqual(again.issued, ["admin"]);
    assert.notEqual(again.token("admin"), admin);
  } finally {
    await dir.remove();
  }
});

Deno.test("up: with stdout not a terminal, no credential reaches stdout or stderr; the printed command gives the login URL", async () => {
  const dir = await tempDir();
  const data = `${dir.path}/it's data`;
  const args = ["--base-port", "0", "--demo-interval", "100ms", "--log-level", "debug"];
  const child = new Deno.Command(LAUNCHER, {
    args: ["up", "--data-dir", data, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const dec = new TextDecoder();
  let out = "";
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) out += dec.decode(chunk, { stream: true });
  };
  const reading = Promise.all([collect(child.stdout), collect(child.stderr)]);
  let status: Deno.CommandStatus;
  try {
    await waitFor(() => out.includes("Ctrl-C stops everything."), 60_000, "the banner");
    // Let the demo traffic run with the whole mesh up, so its logs are in the output too.
    const relay = /^ {2}relay +(http\S+)$/m.exec(out)?.[1];
    const admin = Deno.readTextFileSync(`${data}/credentials/admin.token`).trim();
    await waitFor(
      async () => {
        const r = await fetch(`${relay}/topics`, { headers: { authorization: `Bearer ${admin}` } });
        return ((await r.json()).topics ?? []).length > 0;
      },
      30_000,
      "demo traffic on the relay",
    );
  } finally {
    child.kill("SIGINT");
    status = await child.status;
    await reading;
  }
  try {
    assert.equal(status.code, 0, out);
    const creds = `${data}/credentials`;
    let checked = 0;
    for (const e of Deno.readDirSync(creds)) {
      const value = Deno.readTextFileSync(`${creds}/${e.name}`).trim();
      if (value === "") continue; // the empty revocation list
      assert.ok(!out.includes(value), `${e.name} reached stdout or stderr`);
      checked++;
    }
    assert.ok(checked >= 10, `${checked} credential files checked`);
    assert.ok(!out.includes("iatp1."), "a credential reached stdout or stderr");
    // In its place the banner prints a command that gives the login URL.
    const line = out.split("\n").find((l) => l.includes("The login URL with it: "));
    assert.ok(line, `no login command in the banner\n${out}`);
    const r = await new Deno.Command("bash", {
      args: ["-c", line.split("The login URL with it: ")[1]],
      stdout: "piped",
    }).output();
    assert.equal(r.code, 0);
    const viewer = Deno.readTextFileSync(`${creds}/viewer.token`).trim();
    const login = /Dashboard login: (http\S+)/.exec(out)?.[1];
    assert.equal(dec.decode(r.stdout).trim(), `${login}#token=${viewer}`);
  } finally {
    await dir.remove();
  }
});
