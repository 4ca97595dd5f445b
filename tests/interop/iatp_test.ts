/**
 * IATP interop: `iatp sidecar` against what the upstream project's clients and tests expect
 * (microsoft/agent-governance-toolkit, `agent-governance-python/agent-os/modules/iatp/`, cited
 * below as `M/`), over real sockets. The manifest must parse with the Python model, validate
 * against the JSON schema and keep the Go shape, all in one document; upstream's sidecar,
 * security and override tests are re-expressed as HTTP cases. With
 * `IATP_UPSTREAM_SNAPSHOTS` pointing at a directory of bare mirrors (`<owner>+<name>/repo`),
 * upstream's own `iatp scan`, `iatp verify`, schema and attestation validator run too.
 */
import assert from "node:assert/strict";
import { verify } from "../../core/crypto/mod.ts";
import { decodeBase64 } from "../../core/encoding/mod.ts";
import { tempDir } from "../helpers.ts";
import {
  type Agent,
  post,
  type Sidecar,
  startAgent,
  startSidecar,
} from "../cmd/sidecar/fixtures.ts";
import {
  EXAMPLE_MANIFESTS,
  goManifest,
  pythonManifest,
  pythonTrustScore,
  schemaErrors,
  SIDECAR_TEST_MANIFESTS,
} from "./fixtures/iatp_models.ts";
import { runUpstreamIatp, upstreamSnapshot } from "./fixtures/iatp_upstream.ts";
import type { DeepPartial } from "../../core/config/mod.ts";
import type { SidecarConfig } from "../../cmd/sidecar/config.ts";

const CARD = "4532-0151-1283-0366";

/** A loopback URL nothing listens on (the agent of upstream's tests is never up). */
function deadAgentUrl(): string {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return `http://127.0.0.1:${port}`;
}

async function getJson(url: string) {
  const res = await fetch(url);
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: JSON.parse(text) };
}

/** Runs `body` with a sidecar whose manifest comes from a flat (Python-shape) manifest file. */
async function withManifest(
  manifest: Record<string, unknown>,
  body: (sc: Sidecar, agent: Agent) => Promise<void>,
  extra: DeepPartial<SidecarConfig> = {},
): Promise<void> {
  const dir = await tempDir();
  const agent = startAgent();
  const path = `${dir.path}/manifest.json`;
  await Deno.writeTextFile(path, JSON.stringify(manifest));
  const sc = await startSidecar({ agent_url: agent.url, manifest: path, ...extra });
  try {
    await body(sc, agent);
  } finally {
    await sc.close();
    await agent.close();
    await dir.remove();
  }
}

/** Checks one served manifest against all three readers; returns the Python model's view. */
async function checkManifest(base: string) {
  const m = await getJson(`${base}/.well-known/agent-manifest`);
  assert.equal(m.status, 200);
  assert.deepEqual(await schemaErrors(m.json), [], "JSON schema");
  const py = pythonManifest.parse(m.json);
  const caps = await getJson(`${base}/capabilities`);
  assert.equal(caps.text, m.text, "/capabilities serves the same signed document");
  goManifest.parse(caps.json);
  const key = String(m.json.identity.verification_key).replace(/^ed25519:/, "");
  const sig = decodeBase64(m.headers.get("x-iatp-signature")!);
  assert.ok(await verify(decodeBase64(key), sig, m.text), "X-IATP-Signature verifies");
  return { doc: m.json, py };
}

Deno.test("one manifest document: Python model, JSON schema and Go shape, owner always set", async () => {
  // Python score vs the Go (iatp) score for the same document, measured upstream.
  const cases: Array<[DeepPartial<SidecarConfig>, number, number]> = [
    [{}, 8, 7],
    [{ trust_level: "trusted", reversibility: "full", retention: "ephemeral" }, 10, 10],
    [{ reversibility: "none" }, 7, 5],
    [{ trust_level: "unknown" }, 6, 4],
    [
      {
        trust_level: "untrusted",
        reversibility: "none",
        retention: "forever",
        human_in_loop: true,
      },
      0,
      0,
    ],
  ];
  for (const [overrides, python, go] of cases) {
    const sc = await startSidecar({ agent_url: deadAgentUrl(), ...overrides });
    try {
      const { doc, py } = await checkManifest(sc.url);
      const what = JSON.stringify(overrides);
      assert.equal(pythonTrustScore(py), python, what);
      assert.equal(doc.trust_score, go, what);
      assert.equal(doc.identity.owner, "default-agent", "owner defaults to the agent id");
      assert.equal(py.agent_id, "default-agent");
      assert.equal(py.capabilities.reversibility, overrides.reversibility ?? "partial");
      assert.equal(py.privacy_contract.human_review, overrides.human_in_loop ?? false);
    } finally {
      await sc.close();
    }
  }
  const owned = await startSidecar({ agent_url: deadAgentUrl(), owner: "Payments Team" });
  try {
    assert.equal((await checkManifest(owned.url)).doc.identity.owner, "Payments Team");
  } finally {
    await owned.close();
  }
});

Deno.test("upstream's example manifests (M/examples/manifests/*.json) serve what they say", async () => {
  for (const [name, file] of Object.entries(EXAMPLE_MANIFESTS)) {
    await withManifest(file, async (sc) => {
      const { py } = await checkManifest(sc.url);
      const expected = pythonManifest.parse(file);
      assert.equal(py.agent_id, expected.agent_id, name);
      assert.equal(py.trust_level, expected.trust_level, name);
      assert.equal(py.capabilities.reversibility, expected.capabilities.reversibility, name);
      assert.equal(py.capabilities.idempotency, expected.capabilities.idempotency, name);
      assert.equal(py.capabilities.rate_limit, expected.capabilities.rate_limit, name);
      assert.equal(
        py.capabilities.sla_latency && Number.parseInt(py.capabilities.sla_latency),
        Number.parseInt(String(expected.capabilities.sla_latency)),
        name,
      );
      assert.deepEqual(py.privacy_contract, expected.privacy_contract, name);
      assert.deepEqual(py.scopes, expected.scopes, name);
      assert.equal(pythonTrustScore(py), pythonTrustScore(expected), name);
    });
  }
});

const { trusted, untrusted } = SIDECAR_TEST_MANIFESTS;

Deno.test("M/iatp/tests/test_sidecar.py over HTTP", async (t) => {
  await withManifest(trusted, async (sc) => {
    await t.step("test_health_check (:60)", async () => {
      const r = await getJson(`${sc.url}/health`);
      assert.equal(r.status, 200);
      assert.equal(r.json.status, "healthy");
      assert.equal(r.json.agent_id, "test-trusted-agent");
    });
    await t.step("test_get_manifest (:75)", async () => {
      const r = await getJson(`${sc.url}/.well-known/agent-manifest`);
      assert.equal(r.status, 200);
      assert.equal(r.json.agent_id, "test-trusted-agent");
      assert.equal(r.json.trust_level, "verified_partner");
      assert.equal(r.json.capabilities.idempotency, true);
    });
    await t.step("test_invalid_json_payload (:91)", async () => {
      const r = await post(sc.url, "invalid json");
      assert.equal(r.status, 400);
      assert.ok(String(r.json.error).includes("Invalid JSON"));
    });
  });
  await withManifest(untrusted, async (sc) => {
    await t.step("test_blocked_credit_card_permanent_storage (:109)", async () => {
      const r = await post(sc.url, { task: "purchase", card: CARD });
      assert.equal(r.status, 403);
      assert.ok(String(r.json.error).includes("Privacy Violation"));
      assert.equal(r.json.blocked, true);
    });
    await t.step("test_warning_without_override (:130)", async () => {
      const r = await post(sc.url, { task: "test", data: {} });
      assert.equal(r.status, 449);
      assert.ok("warning" in r.json);
      assert.equal(r.json.requires_override, true);
    });
  });
  await t.step("test_trace_id_injection (:149)", async () => {
    const sc = await startSidecar({ agent_url: deadAgentUrl() });
    try {
      const r = await post(sc.url, { task: "test" }, { "X-Agent-Trace-ID": "custom-trace-123" });
      assert.ok("trace_id" in r.json);
      assert.equal(r.json.trace_id, "custom-trace-123");
    } finally {
      await sc.close();
    }
  });
});

/** A flat manifest with these privacy and trust facts (the rest as the Python model defaults). */
function manifest(
  trust: string,
  retention: string,
  caps: Record<string, unknown> = {},
  humanReview = false,
): Record<string, unknown> {
  return {
    agent_id: `${trust}-${retention}`,
    trust_level: trust,
    capabilities: caps,
    privacy_contract: { retention, human_review: humanReview },
  };
}

const FULL = { idempotency: true, reversibility: "full" };

Deno.test("M/iatp/tests/test_security.py over HTTP (the sidecar's decision on /proxy)", async (t) => {
  await withManifest(manifest("verified_partner", "forever", FULL), async (sc) => {
    await t.step(
      "test_detect_credit_card (:17): three formats blocked, a Luhn failure not",
      async () => {
        for (const text of [CARD, "4532 0151 1283 0366", "4532015112830366"]) {
          assert.equal((await post(sc.url, { data: `My card is ${text}` })).status, 403, text);
        }
        assert.equal((await post(sc.url, { data: "My card is 1234-5678-9012-3456" })).status, 200);
      },
    );
    await t.step("..._blocks_credit_card_forever (:59)", async () => {
      const r = await post(sc.url, { credit_card: CARD });
      assert.equal(r.status, 403);
      assert.ok(String(r.json.error).includes("Privacy Violation"));
      assert.ok(String(r.json.error).toLowerCase().includes("credit card"));
    });
  });
  await withManifest(manifest("verified_partner", "ephemeral", FULL), async (sc) => {
    await t.step("..._allows_credit_card_ephemeral (:79)", async () => {
      assert.equal((await post(sc.url, { credit_card: CARD })).status, 200);
    });
    await t.step("test_generate_warning_trusted_agent (:142): no warning", async () => {
      assert.equal((await post(sc.url, {})).status, 200);
    });
    await t.step("test_scrub_credit_card / test_scrub_ssn (:194, :211): the recorder", async () => {
      const body = { user: "john", payment: { card: CARD, cvv: "123" }, ssn: "123-45-6789" };
      const r = await post(sc.url, body, { "X-Agent-Trace-ID": "scrub-trace" });
      assert.equal(r.status, 200);
      const trace = await getJson(`${sc.url}/trace/scrub-trace`);
      const text = JSON.stringify(trace.json.logs);
      assert.ok(!text.includes(CARD) && !text.includes("123-45-6789"), text);
      assert.ok(text.includes("[CREDIT_CARD_REDACTED]") && text.includes("[SSN_REDACTED]"));
    });
  });
  await withManifest(manifest("standard", "temporary", FULL), async (sc) => {
    await t.step("test_detect_ssn (:41) and ..._blocks_ssn_non_ephemeral (:98)", async () => {
      assert.equal((await post(sc.url, { data: "My SSN is 123-45-6789" })).status, 403);
      const r = await post(sc.url, { ssn: "123-45-6789" });
      assert.equal(r.status, 403);
      assert.ok(String(r.json.error).includes("SSN"));
    });
  });
  const sketchy = manifest("untrusted", "forever", { reversibility: "none" }, true);
  await withManifest(sketchy, async (sc) => {
    await t.step("test_generate_warning_low_trust (:117): the warning's wording", async () => {
      const r = await post(sc.url, {});
      assert.equal(r.status, 449);
      for (
        const phrase of [
          "Low trust score",
          "does not support transaction reversal",
          "stores data indefinitely",
          "may have humans review your data",
        ]
      ) assert.ok(String(r.json.warning).includes(phrase), phrase);
    });
  });
  const token = "super-strong-token-9X4z";
  for (
    const [name, m] of [
      ["test_should_quarantine_untrusted (:162)", manifest("untrusted", "ephemeral")],
      [
        "test_should_quarantine_no_reversibility_permanent (:177)",
        manifest("standard", "forever", { reversibility: "none" }),
      ],
    ] as const
  ) {
    await withManifest(m, async (sc) => {
      await t.step(`${name}: forwarded only with an override, marked quarantined`, async () => {
        assert.equal((await post(sc.url, {})).status, 449);
        const r = await post(sc.url, {}, { "X-User-Override": token });
        assert.equal(r.status, 200);
        assert.equal(r.headers.get("x-agent-quarantined"), "true");
      });
    }, { override_token: token });
  }
});

Deno.test("M/iatp/tests/test_user_override_gate.py over HTTP (449 = denied, 200 = allowed)", async (t) => {
  const low = manifest("untrusted", "temporary", FULL);
  const gate = async (configured: string | undefined, headers: Array<string | undefined>) => {
    const out: number[] = [];
    await withManifest(low, async (sc) => {
      for (const h of headers) {
        out.push((await post(sc.url, {}, h === undefined ? {} : { "X-User-Override": h })).status);
      }
    }, configured === undefined ? {} : { override_token: configured });
    return out;
  };
  const denied = (n: number) => Array(n).fill(449);
  await t.step("test_no_env_token_denies_even_with_true_header (:29)", async () => {
    assert.deepEqual(await gate(undefined, ["true", "yes", "1", "anything"]), denied(4));
  });
  await t.step("test_empty_env_token_denies (:38)", async () => {
    assert.deepEqual(await gate("   ", ["anything"]), denied(1));
  });
  const strong = "super-strong-token-9X4z";
  await t.step(
    "missing, empty and wrong headers deny; the token allows, padded too (:44-64)",
    async () => {
      assert.deepEqual(
        await gate(strong, [undefined, "", "true", "wrong-token", strong, `  ${strong}  `]),
        [449, 449, 449, 449, 200, 200],
      );
    },
  );
  await t.step("test_legacy_truthy_string_no_longer_authorizes (:67)", async () => {
    assert.deepEqual(
      await gate("production-secret-token-77", ["true", "yes", "1", "TRUE", "True"]),
      denied(5),
    );
  });
  await t.step("weak and short tokens disable the gate (:79-99)", async () => {
    for (const weak of ["true", "yes", "1", "admin", "password", "secret", "approved", "TRUE"]) {
      assert.deepEqual(await gate(weak, [weak]), denied(1), weak);
    }
    assert.deepEqual(await gate("shortone", ["shortone"]), denied(1));
  });
});

Deno.test("trace lookups answer the Python sidecar's names (logs, detail)", async () => {
  const sc = await startSidecar({ agent_url: deadAgentUrl() });
  try {
    await post(sc.url, {}, { "X-Agent-Trace-ID": "names-1" });
    const r = await getJson(`${sc.url}/trace/names-1`);
    assert.equal(r.json.trace_id, "names-1");
    assert.ok(Array.isArray(r.json.logs) && r.json.logs.length > 0, "logs (Python)");
    assert.deepEqual(r.json.logs, r.json.records, "records (iatp) is the same list");
    const missing = await getJson(`${sc.url}/trace/nope-1`);
    assert.equal(missing.status, 404);
    assert.equal(missing.json.detail, "Trace not found");
  } finally {
    await sc.close();
  }
});

const snapshots = Deno.env.get("IATP_UPSTREAM_SNAPSHOTS");

// Opt-in: registered only when IATP_UPSTREAM_SNAPSHOTS names the upstream sources.
if (snapshots) {
  Deno.test({
    name: "upstream's own iatp scan / verify, schema and attestation validator accept the sidecar",
    async fn() {
      const src = await upstreamSnapshot(snapshots);
      try {
        for (
          const overrides of [{}, {
            trust_level: "trusted" as const,
            retention: "ephemeral" as const,
          }]
        ) {
          const sc = await startSidecar({ agent_url: deadAgentUrl(), ...overrides });
          try {
            const { doc, py } = await checkManifest(sc.url);
            const out = await runUpstreamIatp(src, sc.url, doc);
            assert.equal(out.scan.status, "success", JSON.stringify(out));
            assert.equal(out.scan.trust_score, pythonTrustScore(py) * 10);
            assert.equal(out.scan.reversibility, py.capabilities.reversibility);
            assert.equal(out.verifyExit, 0, out.verifyOutput);
            assert.deepEqual(out.schemaErrors, []);
            assert.deepEqual(out.attestation, [true, null]);
          } finally {
            await sc.close();
          }
        }
      } finally {
        await src.remove();
      }
    },
  });
}
