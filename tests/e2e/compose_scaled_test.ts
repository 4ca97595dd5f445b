/**
 * deploy/compose.yaml for real, with no registry: the iatp image built by scripts/docker-image,
 * NATS and PostgreSQL stand-ins built from the apt binaries (tests/support/standin_images.ts)
 * and named through NATS_IMAGE and POSTGRES_IMAGE, credentials from deploy/secrets.sh. An intent
 * published on one relay is decided once by the two policy replicas and its decision is read
 * back from the other audit replica (one ledger in PostgreSQL); both relays and the dashboard
 * answer on the project network; with one NATS node killed, an intent published on the other
 * relay is still decided once.
 */
import assert from "node:assert/strict";
import { BUSYBOX_IMAGE, dockerCli, ensureBusyboxImage, ensureDockerd } from "../support/dockerd.ts";
import {
  buildNatsStandin,
  buildPostgresStandin,
  standinsMissing,
} from "../support/standin_images.ts";
import { ROOT, tempDir } from "../helpers.ts";

const dockerd = await ensureDockerd();

const composeMissing = (() => {
  try {
    new Deno.Command("docker-compose", { args: ["version"], stdout: "null", stderr: "null" })
      .outputSync();
    return undefined;
  } catch {
    return "docker-compose is not installed (apt install docker-compose)";
  }
})();

const IMAGES = {
  IATP_IMAGE: "iatp-test/iatp:compose",
  NATS_IMAGE: "iatp-test/nats:standin",
  POSTGRES_IMAGE: "iatp-test/postgres:standin",
};

async function run(cmd: string, args: string[], env: Record<string, string>) {
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Builds the three images against the test daemon. */
async function buildImages(socket: string): Promise<void> {
  const build = await run(`${ROOT}scripts/docker-image`, ["--tag", IMAGES.IATP_IMAGE], {
    DOCKER_HOST: `unix://${socket}`,
  });
  assert.equal(build.code, 0, build.stderr);
  await buildNatsStandin(socket, IMAGES.NATS_IMAGE);
  await buildPostgresStandin(socket, IMAGES.POSTGRES_IMAGE);
  await ensureBusyboxImage(socket);
}

/**
 * A probe on the project network: publishes intent $TX on relay $PUB, then waits for its
 * decision on audit service $READ.
 */
const PROBE = `
intent='{"topic":"access.intent","payload":{"tx_id":"'"$TX"'",` +
  `"subject":{"enterprise":"A","id":"agent-7","roles":["analyst"]},` +
  `"resource":{"enterprise":"B","id":"dataset-42","scope":"read"},` +
  `"context":{"device":"managed-laptop","geo":"EU","session_risk":42}}}'
for i in $(seq 1 180); do
  wget -qO- --header "Authorization: Bearer $ADMIN" --header "Content-Type: application/json" \\
    --post-data "$intent" http://$PUB:8005/publish >/dev/null 2>&1 && break
  sleep 1
done
for i in $(seq 1 120); do
  tx=$(wget -qO- http://$READ:8003/tx/$TX 2>/dev/null)
  case "$tx" in *access.decision*) break ;; esac
  sleep 1
done
echo "TX $tx"
echo "RELAY2 $(wget -qO- http://relay-2:8005/health 2>/dev/null)"
echo "DASHBOARD $(wget -qO- http://dashboard:8004/health 2>/dev/null)"
`;

Deno.test({
  name: "deploy/compose.yaml: 3 NATS, PostgreSQL, 2 relays, 2 audit, 2 policy and the dashboard",
  ignore: !dockerd.available || standinsMissing !== undefined || composeMissing !== undefined,
  async fn() {
    const socket = dockerd.socket;
    await buildImages(socket);
    const secrets = await tempDir("iatp-compose-");
    // Letters and digits only: the project's network is then exactly `<project>_default`.
    const project = `iatpscaled${crypto.randomUUID().slice(0, 8)}`;
    const env = { DOCKER_HOST: `unix://${socket}`, IATP_SECRETS: secrets.path, ...IMAGES };
    const compose = (...args: string[]) =>
      run("docker-compose", ["-f", `${ROOT}deploy/compose.yaml`, "-p", project, ...args], env);
    try {
      const made = await run(`${ROOT}deploy/secrets.sh`, [secrets.path], {});
      assert.equal(made.code, 0, made.stderr);
      const up = await compose("up", "-d");
      assert.equal(up.code, 0, up.stderr);
      const admin = (await Deno.readTextFile(`${secrets.path}/mesh/admin.token`)).trim();
      const probe = async (tx: string, pub: string, read: string) => {
        const env = { ADMIN: admin, TX: tx, PUB: pub, READ: read };
        const out = await dockerCli(socket, [
          "run",
          "--rm",
          "--network",
          `${project}_default`,
          ...Object.entries(env).flatMap(([k, v]) => ["-e", `${k}=${v}`]),
          BUSYBOX_IMAGE,
          "sh",
          "-c",
          PROBE,
        ], { timeoutMs: 400_000 });
        const logs = (await compose("logs", "--no-color", "--tail", "20")).stdout;
        assert.equal(out.code, 0, `${out.stderr}\n${logs}`);
        const entries = JSON.parse(/^TX (.*)$/m.exec(out.stdout)?.[1] || "[]") as Array<
          { event: string; payload: unknown }
        >;
        const decisions = entries.filter((e) => e.event === "access.decision");
        assert.equal(decisions.length, 1, `${tx}: ${out.stdout}\n${logs}`);
        assert.match(JSON.stringify(decisions[0].payload), /"decision":"allow"/);
        return out.stdout;
      };
      // Published on one relay, decided once by one of the policy replicas, read on the other
      // audit replica.
      const first = await probe("compose-1", "relay-1", "audit-2");
      assert.match(first, /^RELAY2 \{.*"engine":"connected"/m);
      assert.match(first, /^DASHBOARD \{.*"status":"ok"/m);
      // The stream and the decisions bucket keep three copies: with one NATS node gone the mesh
      // goes on (the other way round this time).
      const killed = await compose("kill", "nats-1");
      assert.equal(killed.code, 0, killed.stderr);
      await probe("compose-2", "relay-2", "audit-1");
    } finally {
      await compose("down", "-v", "--timeout", "20");
      await secrets.remove();
    }
  },
});
