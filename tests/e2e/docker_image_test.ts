/**
 * The image path for real: build the scratch image with scripts/docker-image against the test
 * dockerd, run `iatp relay` and `iatp sidecar` containers (protected: issuer keys given) on a
 * bridge network, and check /health from a third container on that network. A relay started
 * with no credentials refuses to start, since the image listens on all interfaces.
 */
import assert from "node:assert/strict";
import {
  BUSYBOX_IMAGE,
  dockerCli,
  ensureBusyboxImage,
  ensureDockerd,
  skipMessage,
} from "../support/dockerd.ts";
import { generateIssuer, issueCredential } from "../../core/auth/credential.ts";
import { ROOT } from "../helpers.ts";

const TAG = "iatp-test/iatp:e2e";

Deno.test("scratch image: relay and sidecar containers answer /health on a bridge network", async (t) => {
  const dockerd = await ensureDockerd();
  if (!dockerd.available) {
    console.log(skipMessage(dockerd));
    return;
  }
  const sock = dockerd.socket;
  const build = await new Deno.Command(`${ROOT}scripts/docker-image`, {
    args: ["--tag", TAG],
    env: { DOCKER_HOST: `unix://${sock}` },
  }).output();
  const dec = new TextDecoder();
  assert.equal(build.code, 0, dec.decode(build.stderr));
  assert.match(dec.decode(build.stdout), /built iatp-test\/iatp:e2e/);
  await ensureBusyboxImage(sock);

  const issuer = await generateIssuer();
  const sidecarToken = await issueCredential(issuer, {
    sub: "sidecar",
    scopes: ["publish:iatp.trace"],
  });
  const id = crypto.randomUUID().slice(0, 8);
  const net = `iatp-e2e-${id}`;
  const names = [`relay-${id}`, `sidecar-${id}`];
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
      "-e",
      `IATP_RELAY_AUTH_KEYS=${issuer.publicKey}`,
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
      "-e",
      `IATP_RELAY_URL=http://${relayIp}:8005`,
      "-e",
      `IATP_RELAY_TOKEN=${sidecarToken}`,
      "-e",
      `IATP_AUTH_KEYS=${issuer.publicKey}`,
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

    await t.step("a relay with no credentials refuses to start (protected mode)", async () => {
      const open = await dockerCli(sock, ["run", "--rm", "--network", net, TAG, "relay"]);
      assert.equal(open.code, 2, open.stdout + open.stderr);
      assert.match(open.stderr, /config error: auth_keys/);
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
  } finally {
    await dockerCli(sock, ["rm", "-f", ...names]);
    await dockerCli(sock, ["network", "rm", net]);
  }
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
