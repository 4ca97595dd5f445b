/**
 * The startup benchmark's arguments (scripts/bench/startup.ts): `--help` prints the usage, a bad
 * argument exits 2 naming it, before any service, nginx or redis is started.
 */
import assert from "node:assert/strict";

const SCRIPT = new URL("../../scripts/bench/startup.ts", import.meta.url).pathname;

async function run(...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "-A", SCRIPT, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("startup benchmark: --help and -h print the usage and exit 0", async () => {
  for (const flag of ["--help", "-h"]) {
    const r = await run(flag);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Usage: deno run -A scripts\/bench\/startup\.ts/);
    assert.match(r.stdout, /--services LIST/);
    assert.match(r.stdout, /compose-agent, status/);
  }
});

Deno.test("startup benchmark: a bad argument exits 2 naming it", async () => {
  const cases: Array<[string[], RegExp]> = [
    [["--bogus"], /Unknown option '--bogus'/],
    [["--services", "policy,nope"], /--services: no service "nope"/],
    [["--services", ","], /--services: no service named/],
    [["--runs", "0"], /--runs 0: not a whole number/],
    [["--runs", "2x"], /--runs 2x: not a whole number/],
  ];
  for (const [args, message] of cases) {
    const r = await run(...args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.match(r.stderr, /Usage:/);
    assert.equal(r.stdout, "");
  }
});
