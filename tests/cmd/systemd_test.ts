import assert from "node:assert/strict";
import { COMMANDS } from "../../cmd/mod.ts";
import { envGranted, PERMISSIONS } from "../../cmd/permissions.ts";
import {
  environmentLine,
  SERVICE_COMMANDS,
  settingEnv,
  UNIT_CREDENTIALS,
} from "../../cmd/systemd.ts";
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
  name: "--bin in a folder with a space, a non-ASCII letter, % and $ gives units that verify",
  ignore: !hasSystemd,
  async fn() {
    const dir = await tempDir();
    try {
      const folder = `${dir.path}/my bin ü 100% $HOME`;
      await Deno.mkdir(folder);
      const bin = `${folder}/iatp`;
      await Deno.symlink(Deno.execPath(), bin);
      const units = `${dir.path}/units`;
      const r = await runIatp(["systemd", "--all", units, "--bin", bin], {
        env: { IATP_ALLOW_WRITE: units },
      });
      assert.equal(r.code, 0, r.stderr);
      for (const name of SERVICE_COMMANDS) {
        const unit = `${units}/iatp-${name}.service`;
        const text = await Deno.readTextFile(unit);
        assert.ok(
          text.includes(`\nExecStart="${folder.replace("%", "%%")}/iatp" ${name} --config `),
          text,
        );
        const v = await analyze(["verify", unit]);
        assert.equal(v.stderr, "", `${name}: ${v.stderr}`);
        assert.equal(v.code, 0);
      }
      // The same unit naming a file that is not there: verify looks for exactly that path.
      await Deno.remove(bin);
      const v = await analyze(["verify", `${units}/iatp-relay.service`]);
      assert.match(v.stderr, /is not executable/);
    } finally {
      await dir.remove();
    }
  },
});

Deno.test("--bin with a quote, a backslash or a line break exits 2 naming --bin", async () => {
  for (
    const bin of ['/opt/"iatp"', "/opt/it's/iatp", "/opt/a\\b/iatp", "/opt/iatp\nExecStartPre=/x"]
  ) {
    const r = await runIatp(["systemd", "relay", "--bin", bin]);
    assert.equal(r.code, 2, bin);
    assert.match(r.stderr, /^iatp systemd: --bin: expected a path without quotes/, r.stderr);
    assert.equal(r.stdout, "");
  }
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
  const tmp = await tempDir();
  try {
    const file = `${tmp.path}/not-a-folder`;
    await Deno.writeTextFile(file, "");
    for (const dir of [file, `${file}/sub`]) {
      const r = await runIatp(["systemd", "--all", dir], { env: { IATP_DATA_DIR: tmp.path } });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /^iatp systemd: --all: expected a folder the units can be written to/);
    }
  } finally {
    await tmp.remove();
  }
});

Deno.test("units run protected: credential settings point at files under /etc/iatp", async () => {
  for (const entry of COMMANDS.filter((c) => SERVICE_COMMANDS.includes(c.name as never))) {
    const r = await runIatp(["systemd", entry.name]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split("\n").filter((l) => /^Environment=[A-Z_]+=file:/.test(l));
    const wanted = Object.keys(UNIT_CREDENTIALS[entry.name]);
    assert.equal(lines.length, wanted.length, `${entry.name}: ${lines.join(" | ")}`);
    const flags = PERMISSIONS.get(entry.name)!;
    const command = await entry.load() as { spec?: { envNames(): string[] } };
    assert.ok(command.spec, `${entry.name} has no config spec`);
    for (const key of wanted) {
      const env = await settingEnv(COMMANDS, entry.name, key);
      const line = lines.find((l) => l.startsWith(`Environment=${env}=`));
      assert.ok(line, `${entry.name}: no line for ${key} (${env})`);
      assert.match(line, /=file:\/etc\/iatp\/(issuer\.pub|credentials\/[a-z-]+\.(token|key))$/);
      assert.ok(envGranted(flags, env), `${entry.name} may not read ${env}`);
      assert.ok(command.spec.envNames().includes(env), `${entry.name} does not read ${env}`);
    }
    // The operator's env file comes after, so it can override a credential line.
    const text = r.stdout;
    assert.ok(text.indexOf("EnvironmentFile=") > text.lastIndexOf("Environment="), entry.name);
  }
});

Deno.test("a host agent started with its unit's credential settings refuses to run without the files", async () => {
  const dir = await tempDir();
  try {
    for (const name of ["compose-agent", "status"]) {
      const env: Record<string, string> = { IATP_DATA_DIR: dir.path };
      for (const key of Object.keys(UNIT_CREDENTIALS[name])) {
        const file = `${dir.path}/${name}-${key}`;
        env[await settingEnv(COMMANDS, name, key)] = `file:${file}`;
      }
      const missing = await runIatp([name, "--port", "0"], { env });
      assert.equal(missing.code, 2, `${name}: ${missing.stderr}`);
      assert.match(missing.stderr, /(agent_token|relay_token|compose_agent\.token) .*no such file/);
    }
  } finally {
    await dir.remove();
  }
});

Deno.test("deployment.md's setup creates every file a unit reads", async () => {
  const doc = await Deno.readTextFile(new URL("../../docs/deployment.md", import.meta.url));
  const start = doc.indexOf("### Creating the user and the files");
  const block = doc.slice(doc.indexOf("```sh", start), doc.indexOf("```\n", start + 40));
  const made = new Set<string>();
  if (/install .*issuer\.pub \/etc\/iatp\/issuer\.pub/.test(block)) {
    made.add("/etc/iatp/issuer.pub");
  }
  for (const m of block.matchAll(/^issue +([a-z-]+)/gm)) {
    made.add(`/etc/iatp/credentials/${m[1]}.token`);
  }
  const keys = /^for k in ([a-z -]+); do\n.*\/etc\/iatp\/credentials\/\$k\.key"$/m.exec(block);
  for (const k of keys?.[1].trim().split(/ +/) ?? []) made.add(`/etc/iatp/credentials/${k}.key`);
  for (const [unit, settings] of Object.entries(UNIT_CREDENTIALS)) {
    for (const [key, file] of Object.entries(settings)) {
      assert.ok(
        made.has(file),
        `iatp-${unit}: ${key} reads ${file}, which the setup never creates`,
      );
    }
  }
});

Deno.test("a unit expects /etc/iatp with the mode deployment.md's setup gives it", async () => {
  // systemd warns at each start when ConfigurationDirectoryMode differs from the folder's mode.
  const doc = await Deno.readTextFile(new URL("../../docs/deployment.md", import.meta.url));
  const mode = /^install -d -m (0[0-7]{3}) -o root -g iatp \/etc\/iatp /m.exec(doc)?.[1];
  assert.ok(mode, "deployment.md makes /etc/iatp with install -d -m MODE");
  for (const name of SERVICE_COMMANDS) {
    const r = await runIatp(["systemd", name]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ConfigurationDirectory=iatp$/m);
    assert.match(r.stdout, new RegExp(`^ConfigurationDirectoryMode=${mode}$`, "m"), name);
  }
});

Deno.test("a unit sets its line's allocator settings, which the operator's env file overrides", async () => {
  const r = await runIatp(["systemd", "policy"]);
  assert.equal(r.code, 0, r.stderr);
  const at = r.stdout.indexOf("Environment=MALLOC_MMAP_THRESHOLD_=32768\n");
  assert.ok(at > 0, r.stdout);
  assert.ok(r.stdout.indexOf("EnvironmentFile=") > at);
  const sidecar = await runIatp(["systemd", "sidecar"]);
  assert.equal(sidecar.code, 0, sidecar.stderr);
  assert.ok(sidecar.stdout.includes("Environment=MALLOC_MMAP_THRESHOLD_=32768\n"), sidecar.stdout);
  assert.ok(!(await runIatp(["systemd", "relay"])).stdout.includes("MALLOC_"));
});

Deno.test("an Environment= line keeps any value as written: quoted and escaped where systemd would read it otherwise", () => {
  assert.equal(environmentLine("MALLOC_ARENA_MAX", "2"), "Environment=MALLOC_ARENA_MAX=2");
  assert.equal(environmentLine("A", "/x/y:1,2+3-4_5.6"), "Environment=A=/x/y:1,2+3-4_5.6");
  // `%h` would be the unit's home folder, `\\` an escape and `"` a quote; `$` stays as is.
  assert.equal(environmentLine("A", "%h"), 'Environment="A=%%h"');
  assert.equal(environmentLine("A", 'a\\b"c $D e'), 'Environment="A=a\\\\b\\"c $D e"');
  assert.equal(environmentLine("A", ""), "Environment=A=");
});

/** systemd's own list of the calls in a `@group` (nested groups expanded), or the call itself. */
async function syscallsOf(word: string): Promise<string[]> {
  if (!word.startsWith("@")) return [word];
  const out = await analyze(["syscall-filter", word]);
  assert.equal(out.code, 0, out.stderr);
  const words = out.stdout.split("\n").map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#") && l !== word);
  return (await Promise.all(words.map(syscallsOf))).flat();
}

/** The calls a unit's SystemCallFilter= lines allow, read in order as systemd reads them. */
async function allowedSyscalls(unit: string): Promise<Set<string>> {
  const allowed = new Set<string>();
  for (const [, invert, list] of unit.matchAll(/^SystemCallFilter=(~?)(.*)$/gm)) {
    for (const word of list.split(/\s+/).filter(Boolean)) {
      for (const call of await syscallsOf(word)) {
        if (invert) allowed.delete(call);
        else allowed.add(call);
      }
    }
  }
  return allowed;
}

// What bubblewrap does for a plugin sandbox (strace -f of `bwrap --unshare-all ... --proc /proc`
// run unprivileged), beyond what every service does.
const BWRAP_CALLS = ["unshare", "clone", "mount", "pivot_root", "umount2", "capset", "prlimit64"];
const BWRAP_NAMESPACES = ["user", "mnt", "pid", "net", "ipc", "uts", "cgroup"];

Deno.test({
  name:
    "the units of the agents that sandbox plugins in bubblewrap let it work; the others refuse it",
  ignore: !hasSystemd,
  async fn() {
    for (const name of SERVICE_COMMANDS) {
      const r = await runIatp(["systemd", name]);
      assert.equal(r.code, 0, r.stderr);
      const unit = r.stdout;
      const sandboxes = name === "sensor" || name === "action";
      const calls = await allowedSyscalls(unit);
      const namespaces = /^RestrictNamespaces=(.*)$/m.exec(unit)?.[1];
      // bwrap mounts a /proc of its own, which the kernel refuses under a masked /proc.
      const masksProc = /^Protect(KernelTunables|KernelLogs)=yes$/m.test(unit);
      if (sandboxes) {
        for (const c of BWRAP_CALLS) assert.ok(calls.has(c), `${name}: ${c} refused`);
        const allowed = namespaces?.split(/\s+/) ?? [];
        for (const ns of BWRAP_NAMESPACES) {
          assert.ok(
            allowed.includes(ns),
            `${name}: RestrictNamespaces=${namespaces} refuses ${ns}`,
          );
        }
        assert.ok(!masksProc, `${name}: /proc is masked`);
      } else {
        assert.equal(namespaces, "yes", name);
        assert.ok(!calls.has("mount") && !calls.has("pivot_root"), name);
        assert.ok(masksProc, name);
      }
    }
  },
});
