/**
 * The image path for real: build the scratch image with scripts/docker-image against the test
 * dockerd; run protected `iatp relay` and `iatp sidecar` containers (issuer key and the sidecar's
 * credential mounted from files) on a bridge network, check /health from a third container and
 * that the sidecar's records reach the relay by its container name; prove each subcommand runs
 * with exactly its permission line (a probe mounted in place of the file the image's own launcher
 * starts tries what the subcommand must not do); run the audit service on PostgreSQL from the
 * image read-only, as its non-root user (its database client loads and it appends); and check the
 * launcher passes signals and exit codes through.
 */
import assert from "node:assert/strict";
import { generateIssuer, issueCredential } from "../../core/auth/mod.ts";
import { entryOf } from "../../cmd/permissions.ts";
import { BUSYBOX_IMAGE, dockerCli, ensureBusyboxImage, ensureDockerd } from "../support/dockerd.ts";
import { freePort, ROOT, tempDir, waitFor } from "../helpers.ts";
import { postgresMissing, startPostgres } from "../support/postgres.ts";

/** The test Docker daemon; tests that need it are ignored (never passed) without one. */
const dockerd = await ensureDockerd();

const TAG = "iatp-test/iatp:e2e";
const BUSYBOX = ["/bin/busybox", "/usr/bin/busybox"];

let built: Promise<string> | undefined;

/** Builds the image once per test process; the Docker socket it lives behind. */
function imageSocket(): Promise<string> {
  return built ??= (async () => {
    const build = await new Deno.Command(`${ROOT}scripts/docker-image`, {
      args: ["--tag", TAG],
      env: { DOCKER_HOST: `unix://${dockerd.socket}` },
    }).output();
    const dec = new TextDecoder();
    assert.equal(build.code, 0, dec.decode(build.stderr));
    assert.match(dec.decode(build.stdout), /built iatp-test\/iatp:e2e \(deno-runtime\)/);
    await ensureBusyboxImage(dockerd.socket);
    return dockerd.socket;
  })();
}

/**
 * A folder uid 10001 in the container can read, holding an issuer public key and the sidecar's
 * credential (publish:iatp.trace); `reader` may read every topic.
 */
async function keyDir() {
  const dir = await tempDir();
  await Deno.chmod(dir.path, 0o755);
  const issuer = await generateIssuer();
  const files = {
    "issuer.pub": issuer.publicKey,
    "sidecar.token": await issueCredential(issuer, {
      sub: "sidecar",
      scopes: ["publish:iatp.trace"],
    }),
  };
  for (const [name, text] of Object.entries(files)) {
    await Deno.writeTextFile(`${dir.path}/${name}`, text + "\n", { mode: 0o644 });
    await Deno.chmod(`${dir.path}/${name}`, 0o644);
  }
  const reader = await issueCredential(issuer, { sub: "reader", scopes: ["subscribe:*"] });
  return { ...dir, reader };
}

Deno.test({
  name: "scratch image: protected relay and sidecar containers answer /health on a bridge network",
  ignore: !dockerd.available,
}, async (t) => {
  const sock = await imageSocket();
  const keys = await keyDir();
  const id = crypto.randomUUID().slice(0, 8);
  const net = `iatp-e2e-${id}`;
  const names = [`relay-${id}`, `sidecar-${id}`];
  // Both listen on 0.0.0.0 in the image, so they run protected: issuer keys from a mounted file.
  const protectedRun = (...vars: string[]) => [
    "-v",
    `${keys.path}:/run/iatp:ro`,
    ...vars.flatMap((v) => ["-e", `${v}=file:/run/iatp/issuer.pub`]),
  ];
  try {
    const created = await dockerCli(sock, ["network", "create", "--driver", "bridge", net]);
    assert.equal(created.code, 0, created.stderr);
    const relay = await dockerCli(sock, [
      "run",
      "-d",
      "--name",
      names[0],
      "--network",
      net,
      ...protectedRun("IATP_RELAY_AUTH_KEYS"),
      TAG,
      "relay",
      "--port",
      "8005",
    ]);
    assert.equal(relay.code, 0, relay.stderr);
    const relayIp = await ipOf(sock, names[0], net);
    const sidecar = await dockerCli(sock, [
      "run",
      "-d",
      "--name",
      names[1],
      "--network",
      net,
      ...protectedRun("IATP_SIDECAR_AUTH_KEYS"),
      "-e",
      // The relay by its container name, as docs/deployment.md runs it.
      `IATP_SIDECAR_RELAY_URL=http://${names[0]}:8005`,
      "-e",
      "IATP_SIDECAR_RELAY_TOKEN=file:/run/iatp/sidecar.token",
      TAG,
      "sidecar",
      "--port",
      "8001",
    ]);
    assert.equal(sidecar.code, 0, sidecar.stderr);
    const sidecarIp = await ipOf(sock, names[1], net);

    await t.step("runs as the non-root user from a scratch image", async () => {
      const user = await dockerCli(sock, ["inspect", "-f", "{{.Config.User}}", TAG]);
      assert.equal(user.stdout.trim(), "10001:10001");
      const hist = await dockerCli(sock, [
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        TAG,
      ]);
      assert.doesNotMatch(hist.stdout, /FROM (debian|ubuntu|alpine)/);
    });

    await t.step("both answer /health from another container on the network", async () => {
      const script = `for i in $(seq 1 60); do ` +
        `r=$(wget -qO- http://${relayIp}:8005/health 2>/dev/null) && ` +
        `s=$(wget -qO- http://${sidecarIp}:8001/health 2>/dev/null) && ` +
        `echo "RELAY $r" && echo "SIDECAR $s" && exit 0; sleep 1; done; exit 1`;
      const probe = await dockerCli(sock, [
        "run",
        "--rm",
        "--network",
        net,
        BUSYBOX_IMAGE,
        "sh",
        "-c",
        script,
      ]);
      const logs = await Promise.all(names.map((n) => dockerCli(sock, ["logs", n])));
      assert.equal(
        probe.code,
        0,
        `probe failed: ${probe.stderr}\n${logs.map((l) => l.stdout + l.stderr).join("\n")}`,
      );
      assert.match(probe.stdout, /RELAY \{.*"status":"ok"/);
      assert.match(probe.stdout, /SIDECAR \{.*"status":"healthy"/);
    });

    await t.step("the sidecar's records reach the relay by its container name", async () => {
      const script = `wget -qO- --post-data '{"a":1}' http://${sidecarIp}:8001/proxy; ` +
        `for i in $(seq 1 30); do ` +
        `t=$(wget -qO- --header "Authorization: Bearer ${keys.reader}" ` +
        `http://${relayIp}:8005/topics 2>/dev/null) && case "$t" in *iatp.trace*) ` +
        `echo "TOPICS $t"; exit 0;; esac; sleep 1; done; echo "TOPICS $t"; exit 1`;
      const probe = await dockerCli(sock, [
        "run",
        "--rm",
        "--network",
        net,
        BUSYBOX_IMAGE,
        "sh",
        "-c",
        script,
      ]);
      const logs = await dockerCli(sock, ["logs", names[1]]);
      assert.equal(probe.code, 0, `${probe.stdout}${probe.stderr}\n${logs.stdout}${logs.stderr}`);
      assert.match(probe.stdout, /"topic":"iatp\.trace"/);
    });

    await t.step("docker stop reaches the service through the launcher: clean exit 0", async () => {
      const stop = await dockerCli(sock, ["stop", "-t", "20", names[0]]);
      assert.equal(stop.code, 0, stop.stderr);
      const code = await dockerCli(sock, ["inspect", "-f", "{{.State.ExitCode}}", names[0]]);
      assert.equal(code.stdout.trim(), "0", "SIGTERM forwarded and drained, not SIGKILLed");
    });
  } finally {
    await dockerCli(sock, ["rm", "-f", ...names]);
    await dockerCli(sock, ["network", "rm", net]);
    await keys.remove();
  }
});

/**
 * Tries everything a subcommand might be refused; run by the launcher in place of the file it
 * starts (main.ts, or a service's own file: entryOf). Imported rather than run (`__grants`
 * loading a command), it does nothing.
 */
const PROBE = `
if (!import.meta.main) throw new Error("the probe is not a command");
const out: Record<string, unknown> = { args: Deno.args };
async function attempt(key: string, fn: () => unknown): Promise<void> {
  try {
    await fn();
    out[key] = "ok";
  } catch (err) {
    out[key] = err instanceof Error ? err.name : String(err);
  }
}
await attempt("run_echo", async () => {
  const r = await new Deno.Command("/bin/echo", { args: ["escaped"] }).output();
  if (!r.success) throw new Error("echo failed");
});
await attempt("run_deno", () => new Deno.Command(Deno.execPath(), { args: ["--version"] }).output());
await attempt("write_tmp", () => Deno.writeTextFile("/tmp/iatp-probe", "x"));
await attempt("write_data", () => Deno.writeTextFile("/data/iatp-probe", "x"));
await attempt("read_data", () => Deno.readTextFile("/data/iatp-probe"));
await attempt("read_passwd", () => Deno.readTextFile("/etc/passwd"));
await attempt("read_app", () => Deno.readTextFile("/app/deno.json"));
await attempt("read_named_file", () => Deno.readTextFile("/run/iatp/issuer.pub"));
await attempt("env_home", () => Deno.env.get("HOME"));
await attempt("sys", () => Deno.hostname());
console.log("PROBE " + JSON.stringify(out));
`;

Deno.test({
  name: "scratch image: each subcommand runs with exactly its permission line",
  ignore: !dockerd.available,
}, async (t) => {
  const sock = await imageSocket();
  const busybox = BUSYBOX.find((p) => Deno.statSync(p).isFile);
  assert.ok(busybox, "busybox not found (apt-get install busybox-static)");
  const keys = await keyDir();
  await Deno.writeTextFile(`${keys.path}/probe.ts`, PROBE, { mode: 0o644 });
  await Deno.chmod(`${keys.path}/probe.ts`, 0o644);
  const probe = async (subcommand: string, env: string[] = []) => {
    const r = await dockerCli(sock, [
      "run",
      "--rm",
      // The probe replaces the file the launcher starts, so the image's own launcher picks its
      // flags.
      "-v",
      `${keys.path}/probe.ts:/app/${entryOf([subcommand]).file}:ro`,
      "-v",
      `${keys.path}/issuer.pub:/run/iatp/issuer.pub:ro`,
      // A real program at /bin/echo: only Deno's permissions can stop the probe running it.
      "-v",
      `${busybox}:/bin/echo:ro`,
      ...env.flatMap((e) => ["-e", e]),
      TAG,
      subcommand,
    ]);
    const line = r.stdout.split("\n").find((l) => l.startsWith("PROBE "));
    assert.ok(line, `no probe output (exit ${r.code}): ${r.stdout}${r.stderr}`);
    return JSON.parse(line.slice(6)) as Record<string, unknown>;
  };
  try {
    await t.step("action: runs only Deno (and git), writes only under /data", async () => {
      const r = await probe("action");
      assert.deepEqual(r.args, [], "a service starts from its own file, without its name");
      assert.equal(r.run_echo, "NotCapable", "action must not run /bin/echo");
      assert.equal(r.write_tmp, "NotCapable", "action must not write outside /data");
      assert.equal(r.read_passwd, "NotCapable");
      assert.equal(r.env_home, "NotCapable");
      assert.equal(r.sys, "NotCapable");
      // What its line grants still works: the refusals above are permissions, not a broken probe.
      assert.deepEqual([r.run_deno, r.write_data, r.read_data, r.read_app], [
        "ok",
        "ok",
        "ok",
        "ok",
      ]);
    });
    await t.step("relay: reads only its code, /data and the key file it was given", async () => {
      const r = await probe("relay", ["IATP_RELAY_AUTH_KEYS=file:/run/iatp/issuer.pub"]);
      assert.deepEqual(r.args, []);
      assert.equal(r.read_passwd, "NotCapable", "relay must not read outside its grants");
      // Its worker isolates load their modules from the app folder: the line grants reading it.
      assert.equal(r.read_app, "ok", "relay's line grants the app folder (worker modules)");
      assert.equal(r.run_deno, "NotCapable");
      assert.equal(r.run_echo, "NotCapable");
      assert.equal(r.write_tmp, "NotCapable");
      assert.deepEqual([r.write_data, r.read_data, r.read_named_file], ["ok", "ok", "ok"]);
    });
    await t.step("relay: a key file it was not given stays unreadable", async () => {
      const r = await probe("relay");
      assert.equal(r.read_named_file, "NotCapable");
    });
    await t.step("dashboard: reads only /data (its credential files), writes nothing", async () => {
      const r = await probe("dashboard");
      // NotFound: reading /data is allowed (the probe file is not there), the rest is refused.
      assert.deepEqual([r.read_data, r.write_data, r.read_passwd], [
        "NotFound",
        "NotCapable",
        "NotCapable",
      ]);
    });
  } finally {
    await keys.remove();
  }
});

Deno.test({
  name:
    "scratch image: audit on PostgreSQL, read-only as the non-root user, loads its client and " +
    "appends",
  ignore: !dockerd.available || postgresMissing !== undefined,
}, async () => {
  const sock = await imageSocket();
  const db = await startPostgres();
  const keys = await keyDir();
  await Deno.writeTextFile(`${keys.path}/pg-password`, db.password, { mode: 0o644 });
  await Deno.chmod(`${keys.path}/pg-password`, 0o644);
  const name = `audit-pg-${crypto.randomUUID().slice(0, 8)}`;
  const port = freePort();
  try {
    // The host's network, to reach the test server on loopback; the image's files read-only, the
    // data folder an empty tmpfs of the service user, as a fresh volume would be.
    const run = await dockerCli(sock, [
      "run",
      "-d",
      "--name",
      name,
      "--network",
      "host",
      "--read-only",
      "--tmpfs",
      "/data:uid=10001,gid=10001,mode=0700",
      "-v",
      `${keys.path}:/run/iatp:ro`,
      "-e",
      "IATP_AUDIT_HOST=127.0.0.1",
      TAG,
      "audit",
      "--port",
      String(port),
      "--compat",
      "iatp",
      "--db",
      db.urlWithoutPassword,
      "--db-password",
      "file:/run/iatp/pg-password",
      "--key-file",
      "/data/audit.key",
    ]);
    assert.equal(run.code, 0, run.stderr);
    const url = `http://127.0.0.1:${port}`;
    const logs = async () => {
      const l = await dockerCli(sock, ["logs", name]);
      return l.stdout + l.stderr;
    };
    await waitFor(
      async () => {
        const state = await dockerCli(sock, ["inspect", "-f", "{{.State.Running}}", name]);
        if (state.stdout.trim() !== "true") throw new Error(`audit ended: ${await logs()}`);
        try {
          return (await fetch(`${url}/health`)).status === 200;
        } catch {
          return false;
        }
      },
      60_000,
      "the audit service in the image to answer /health",
    );
    const res = await fetch(`${url}/audit`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ tx_id: "image-pg", event: "pg.test", actor: "t", payload: {} }),
    });
    const body = await res.text();
    assert.equal(res.status, 201, `${body} ${await logs()}`);
    assert.equal(JSON.parse(body).index, 0);
  } finally {
    await dockerCli(sock, ["rm", "-f", name]);
    await keys.remove();
    await db.stop();
  }
});

Deno.test({
  name: "scratch image: the launcher passes exit codes and errors through",
  ignore: !dockerd.available,
}, async () => {
  const sock = await imageSocket();
  const unknown = await dockerCli(sock, ["run", "--rm", TAG, "no-such-command"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command "no-such-command"/);
  const bad = await dockerCli(sock, ["run", "--rm", TAG, "relay", "--port", "not-a-port"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /port/);
  const version = await dockerCli(sock, ["run", "--rm", TAG, "--version"]);
  assert.equal(version.code, 0, version.stderr);
  assert.match(version.stdout, /\d+\.\d+\.\d+/);
});

async function ipOf(sock: string, name: string, net: string): Promise<string> {
  const r = await dockerCli(sock, [
    "inspect",
    "-f",
    `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`,
    name,
  ]);
  const ip = r.stdout.trim();
  assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/, `no IP for ${name}: ${r.stderr}`);
  return ip;
}
