import assert from "node:assert/strict";
import { SERVICE_COMMANDS } from "../../cmd/systemd.ts";
import { runIatp, tempDir } from "../helpers.ts";

const hasSystemd = (() => {
  try {
    return new Deno.Command("systemd-analyze", { args: ["--version"] }).outputSync().code === 0;
  } catch {
    return false;
  }
})();

async function analyze(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command("systemd-analyze", { args, env: { SYSTEMD_COLORS: "0" } })
    .output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

Deno.test({
  name: "every unit passes systemd-analyze verify with empty stderr and scores <= 3.0",
  ignore: !hasSystemd,
  async fn() {
    const dir = await tempDir();
    try {
      const bin = Deno.execPath(); // an existing executable, so verify can check ExecStart
      const r = await runIatp(["systemd", "--all", dir.path, "--bin", bin], {
        env: { IATP_ALLOW_WRITE: dir.path },
      });
      assert.equal(r.code, 0, r.stderr);
      const scores: Record<string, number> = {};
      for (const name of SERVICE_COMMANDS) {
        const unit = `${dir.path}/iatp-${name}.service`;
        const text = await Deno.readTextFile(unit);
        assert.match(text, /^Restart=on-failure$/m);
        assert.match(text, /^RestartSec=/m);
        assert.match(text, /^AmbientCapabilities=$/m);
        assert.match(text, /^NoNewPrivileges=yes$/m);
        assert.match(text, /^ProtectSystem=strict$/m);
        if (name === "compose-agent") assert.match(text, /^SupplementaryGroups=docker$/m);
        else assert.doesNotMatch(text, /docker/i);
        const v = await analyze(["verify", unit]);
        assert.equal(v.stderr, "", `${name}: ${v.stderr}`);
        assert.equal(v.code, 0);
        const s = await analyze(["security", "--offline=true", unit]);
        const m = /Overall exposure level for .*: (\d+\.\d+) (\w+)/.exec(s.stdout);
        assert.ok(m, s.stdout + s.stderr);
        scores[name] = Number(m[1]);
        assert.ok(scores[name] <= 3.0, `${name} exposure ${m[1]} ${m[2]}`);
        assert.equal(m[2], "OK");
      }
      console.log(JSON.stringify({ systemd_security_offline: scores }));
    } finally {
      await dir.remove();
    }
  },
});

Deno.test({
  name: "verify is a real check: a typo in a unit shows on stderr",
  ignore: !hasSystemd,
  async fn() {
    const dir = await tempDir();
    try {
      const unit = `${dir.path}/typo.service`;
      await Deno.writeTextFile(
        unit,
        `[Service]\nExecStart=${Deno.execPath()}\nProtectSystm=strict\n`,
      );
      const v = await analyze(["verify", unit]);
      assert.notEqual(v.stderr, "");
    } finally {
      await dir.remove();
    }
  },
});

Deno.test("iatp systemd prints one unit; bad input exits 2", async () => {
  const r = await runIatp(["systemd", "relay"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /^ExecStart=\/usr\/local\/bin\/iatp relay --config \/etc\/iatp\/relay\.yaml$/m,
  );
  assert.equal((await runIatp(["systemd", "version"])).code, 2);
  assert.equal((await runIatp(["systemd"])).code, 2);
  assert.equal((await runIatp(["systemd", "relay", "--bin", "relative/iatp"])).code, 2);
  assert.equal((await runIatp(["systemd", "relay", "--user", "bad user"])).code, 2);
});
