/**
 * End-to-end: `plugin_install` from a local git repository through the real agent process, the
 * installed plugin then executing; bad ids, plugins that fail the import audit, and plugins the
 * agent does not trust (unsigned, signed by an unknown key, changed after signing) never land.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { generateIssuer, type Issuer } from "../../core/auth/mod.ts";
import { signPlugin } from "../../core/plugin/mod.ts";
import { ECHO_ACTION_MOD, writeConfig, writePlugin } from "../core/agents/fixtures.ts";
import { startFakeOrchestrator } from "../support/fake_orchestrator.ts";
import { startIatpService, tempDir, waitFor } from "../helpers.ts";

const TOKEN = "install-e2e-token";

async function git(cwd: string, ...args: string[]): Promise<void> {
  const out = await new Deno.Command("git", {
    args: ["-c", "user.name=iatp-test", "-c", "user.email=test@example.invalid", ...args],
    cwd,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`git ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/**
 * A git repo holding an action plugin in `plugin/`, signed with `key` when given; `after` runs
 * after signing and before the commit (to tamper with a signed plugin).
 */
async function gitRepo(
  root: string,
  name: string,
  id: string,
  mod: string,
  key?: Issuer,
  after?: (pluginDir: string) => Promise<void>,
): Promise<string> {
  const repo = join(root, name);
  await Deno.mkdir(repo, { recursive: true });
  await writePlugin(repo, "plugin", "action", mod);
  // The manifest sits in a subfolder to exercise `subdir`; rename the id to the wanted one.
  const manifest = join(repo, "plugin/plugin.yaml");
  await Deno.writeTextFile(
    manifest,
    (await Deno.readTextFile(manifest)).replace("id: plugin", `id: ${id}`),
  );
  if (key) await signPlugin(join(repo, "plugin"), key);
  await after?.(join(repo, "plugin"));
  await git(repo, "init", "-q");
  await git(repo, "add", ".");
  await git(repo, "commit", "-qm", "plugin");
  return repo;
}

Deno.test("action e2e: plugin_install from a local git repo, validated before it can run", async () => {
  const dir = await tempDir("iatp-install-e2e-");
  const orch = await startFakeOrchestrator({
    agentId: "inst-e2e",
    token: TOKEN,
    nextPollInterval: 1,
  });
  const signer = await generateIssuer();
  const stranger = await generateIssuer();
  const good = await gitRepo(dir.path, "good", "git-echo", ECHO_ACTION_MOD, signer);
  // A trusted signature does not bypass validation: the import audit still refuses this one.
  const evil = await gitRepo(
    dir.path,
    "evil",
    "evil-plugin",
    'import "../../../../etc/passwd";\n' + ECHO_ACTION_MOD,
    signer,
  );
  const unsigned = await gitRepo(dir.path, "unsigned", "unsigned-echo", ECHO_ACTION_MOD);
  const foreign = await gitRepo(dir.path, "foreign", "foreign-echo", ECHO_ACTION_MOD, stranger);
  const tampered = await gitRepo(
    dir.path,
    "tampered",
    "tampered-echo",
    ECHO_ACTION_MOD,
    signer,
    (p) => Deno.writeTextFile(join(p, "extra.ts"), "export const added = 1;\n"),
  );
  // An unsigned plugin in a local folder the operator allowed installs without a signature.
  const allowed = join(dir.path, "allowed");
  await Deno.mkdir(allowed);
  await writePlugin(allowed, "local-echo", "action", ECHO_ACTION_MOD);
  const config = await writeConfig(dir.path, "action.yaml", {
    agent: {
      id: "inst-e2e",
      base_folder: join(dir.path, "agent"),
      poll_interval: "30s",
      max_concurrent_tasks: 1,
    },
    api: { base_url: orch.url },
    security: { auth: { api_key: TOKEN } },
    plugins: {
      directory: join(dir.path, "builtin"),
      trusted_keys: [signer.publicKey],
      allowed_sources: [join(allowed, "local-echo")],
    },
    health: { port: 0 },
  });
  const install = (id: string, plugin_id: string, plugin_url: string) => ({
    id,
    plugin_id,
    instruction_type: "plugin_install",
    plugin_configuration: { plugin_url, subdir: "plugin" },
    timeout_seconds: 60,
  });
  orch.enqueue(install("inst-good", "git-echo", `file://${good}`));
  orch.enqueue(install("inst-traversal", "../escape", `file://${good}`));
  orch.enqueue(install("inst-evil", "evil-plugin", `file://${evil}`));
  orch.enqueue(install("inst-unsigned", "unsigned-echo", `file://${unsigned}`));
  orch.enqueue(install("inst-foreign", "foreign-echo", `file://${foreign}`));
  orch.enqueue(install("inst-tampered", "tampered-echo", `file://${tampered}`));
  orch.enqueue({
    id: "inst-allowed",
    plugin_id: "local-echo",
    instruction_type: "plugin_install",
    plugin_configuration: { plugin_url: join(allowed, "local-echo") },
    timeout_seconds: 60,
  });
  orch.enqueue({
    id: "run-installed",
    plugin_id: "git-echo",
    instruction_type: "execute",
    input_data: { echo: "from git" },
    timeout_seconds: 30,
  });
  const agent = await startIatpService(["action", "--config", config], {
    env: { IATP_DATA_DIR: dir.path },
  });
  try {
    await waitFor(() => orch.results().length === 8, 60_000, "eight results");
    const body = (id: string) => orch.results(id)[0].body;
    const refusal = (id: string) => {
      const b = body(id);
      assert.equal(b.status, "failed", JSON.stringify(b));
      const d = b.error_details as { error_type: string; reason: string };
      assert.equal(d.error_type, "untrusted_plugin");
      return { reason: d.reason, message: String(b.error_message) };
    };
    assert.equal(body("inst-good").status, "completed", JSON.stringify(body("inst-good")));
    assert.ok(
      (body("inst-good").execution_log as string[]).some((l) =>
        l.includes(`trusted: signed by key ${signer.kid}`)
      ),
    );
    assert.deepEqual((body("inst-good").result as { output: unknown }).output, {
      plugin_id: "git-echo",
      version: "1.0.0",
      kind: "action",
    });
    assert.equal(body("inst-traversal").status, "failed");
    assert.match(String(body("inst-traversal").error_message), /invalid plugin id/);
    assert.equal(body("inst-evil").status, "failed");
    assert.equal(
      (body("inst-evil").error_details as { error_type: string }).error_type,
      "invalid_plugin",
    );
    const unsignedR = refusal("inst-unsigned");
    assert.equal(unsignedR.reason, "unsigned");
    assert.match(unsignedR.message, /unsigned.*plugins\.allowed_sources/);
    const foreignR = refusal("inst-foreign");
    assert.equal(foreignR.reason, "unknown_key");
    assert.match(foreignR.message, new RegExp(`unknown key ${stranger.kid}`));
    assert.equal(refusal("inst-tampered").reason, "digest_mismatch");
    assert.equal(body("inst-allowed").status, "completed", JSON.stringify(body("inst-allowed")));
    const run = body("run-installed");
    assert.equal(run.status, "completed", JSON.stringify(run));
    assert.deepEqual((run.result as { output: unknown }).output, { echo: "from git", token: null });
    const installed = join(dir.path, "agent/config/plugins");
    const names = [...Deno.readDirSync(installed)].map((e) => e.name);
    assert.deepEqual(names.sort(), ["git-echo", "local-echo"]);
    assert.deepEqual([...Deno.readDirSync(join(installed, "git-echo"))].map((e) => e.name).sort(), [
      "mod.ts",
      "plugin.sig",
      "plugin.yaml",
    ]);
    assert.equal(Deno.statSync(join(installed, "git-echo/mod.ts")).mode! & 0o777, 0o600);
    assert.deepEqual([...Deno.readDirSync(join(dir.path, "agent/tmp/workdir"))], []);
    assert.deepEqual(orch.violations, []);
  } finally {
    await agent.stop("SIGTERM");
    await orch.close();
    await dir.remove();
  }
});
