// The TryDirect status panel's own config.json (trydirect/status: the shipped config.json and
// the one `status init` writes, src/agent/init.rs) starts `iatp status` as it is: the panel's
// web server, TLS and firewall keys are listed once as unused, `compose_agent_enabled` is
// read as compose_agent.enabled (false: legacy mode) and `control_plane` as itself.
import assert from "node:assert/strict";
import { freePort, runIatp, startIatpService, tempDir } from "../helpers.ts";

/** The keys and shapes of trydirect/status config.json, with values of our own. */
const SHIPPED = `{
\t"ssl":"letsencrypt",
\t"domain":"fixture.example",
\t"reqdata" : {
\t\t"country": "NL",
\t\t"email": "ops@fixture.example",
\t\t"commonname": "fixture.example"
\t},
\t"project":"fixture",
  \t"container":"nginx",
\t"apps_info": "",
\t"subdomains": {"dev": "dev.fixture.example", "prod": "fixture.example"},
\t"compose_agent_enabled": false,
\t"control_plane": "status_panel"
}
`;

/** The keys and shapes of the file `status init` writes, plus the firewall section. */
const INIT = `{
    "ssl": "letsencrypt",
    "domain": "fixture.example",
    "reqdata": {
        "email": "ops@fixture.example"
    },
    "apps_info": null,
    "subdomains": {},
    "compose_agent_enabled": true,
    "control_plane": "compose_agent",
    "firewall": {"allowed_ports": [80, 443], "extra_protected_ports": [2222]}
}
`;

for (
  const [name, text, composeAgent, controlPlane, unused] of [
    [
      "config.json",
      SHIPPED,
      false,
      "status_panel",
      "ssl, domain, reqdata, project, container, apps_info, subdomains",
    ],
    [
      "status init's config.json",
      INIT,
      true,
      "compose_agent",
      "ssl, domain, reqdata, apps_info, subdomains, firewall",
    ],
  ] as const
) {
  Deno.test(`TryDirect ${name} starts iatp status as it is`, async () => {
    const dir = await tempDir();
    await Deno.writeTextFile(`${dir.path}/config.json`, text);
    const agent = await startIatpService(
      ["status", "--config", `${dir.path}/config.json`, "--port", String(freePort())],
      {
        env: {
          IATP_DATA_DIR: dir.path,
          AGENT_ID: "9b0d3b7e-1111-4a4a-8c8c-0123456789ab",
          AGENT_TOKEN: "fixture-agent-token-0123",
        },
      },
    );
    try {
      const caps = await (await fetch(`${agent.url}/capabilities`)).json();
      assert.equal(caps.compose_agent, composeAgent);
      assert.equal(caps.control_plane, controlPlane);
      const out = agent.stdout();
      assert.ok(out.includes(`config keys accepted but not used by iatp: ${unused}`), out);
      assert.equal(out.includes("compose_agent=false - running in legacy mode"), !composeAgent);
    } finally {
      await agent.stop();
      await dir.remove();
    }
  });
}

Deno.test("TryDirect config.json starts iatp compose-agent as it is (its --compose-mode file)", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir.path}/config.json`, SHIPPED);
  const agent = await startIatpService(
    ["compose-agent", "--config", `${dir.path}/config.json`, "--port", String(freePort())],
    {
      env: {
        IATP_DATA_DIR: dir.path,
        IATP_COMPOSE_AGENT_AGENT_TOKEN: "fixture-agent-token-0123",
        IATP_COMPOSE_AGENT_DOCKER_SOCKET: `${dir.path}/no-docker.sock`,
      },
    },
  );
  try {
    const health = await fetch(`${agent.url}/health`);
    await health.body?.cancel();
    assert.equal(health.status, 200);
    assert.ok(
      agent.stdout().includes(
        "config keys accepted but not used by iatp: ssl, domain, reqdata, project, container, " +
          "apps_info, subdomains, compose_agent_enabled, control_plane",
      ),
      agent.stdout(),
    );
  } finally {
    await agent.stop();
    await dir.remove();
  }
});

Deno.test("STATUS_PANEL_BIND=0.0.0.0 with no credentials: the refusal names that variable and IATP_STATUS_INSECURE", async () => {
  const r = await runIatp(["status", "--port", String(freePort())], {
    env: {
      STATUS_PANEL_BIND: "0.0.0.0",
      AGENT_ID: "9b0d3b7e-1111-4a4a-8c8c-0123456789ab",
      AGENT_TOKEN: "fixture-agent-token-0123",
    },
  });
  assert.equal(r.code, 2, r.stderr);
  assert.match(
    r.stderr,
    /listening on 0\.0\.0\.0 \(host, env STATUS_PANEL_BIND\), beyond loopback; or --insecure \(IATP_STATUS_INSECURE=true\) to run open/,
  );
});
