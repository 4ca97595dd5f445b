/**
 * Tests for the config layer's flag parser and path helpers: each gives what `node:util`'s
 * `parseArgs` (strict), `node:path`'s `dirname`, `normalize`, `join` and `resolve` and `node:url`'s
 * `fileURLToPath` give, values and error messages alike.
 * @module
 */
import assert from "node:assert/strict";
import { dirname, join, normalize, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  filePath,
  FlagError,
  type FlagOption,
  joinPath,
  normalizePath,
  parentDir,
  parseArgv,
  parseFlags,
  resolvePath,
} from "../../../core/config/mod.ts";

const OPTIONS: Record<string, FlagOption> = {
  config: { type: "string" },
  help: { type: "boolean", short: "h" },
  port: { type: "string", short: "p" },
  verbose: { type: "boolean", short: "v" },
  all: { type: "boolean", short: "a" },
  tag: { type: "string", multiple: true, short: "t" },
  flag: { type: "boolean", multiple: true },
  tls: { type: "boolean" },
  "no-tls": { type: "boolean" },
};

const CASES: string[][] = [
  [],
  ["--port", "8005"],
  ["--port=8005", "--help"],
  ["-p", "8005", "-h"],
  ["-p8005"],
  ["-hv"],
  ["-hvp", "9"],
  ["-hvp9"],
  ["-vh", "-a"],
  ["--tag", "a", "--tag=b", "-t", "c", "-td"],
  ["--flag", "--flag"],
  ["--no-tls", "--tls"],
  ["--port="],
  ["--port", ""],
  ["--port", "-"],
  ["--port", "-1"],
  ["--port=-1"],
  ["-p", "-1"],
  ["-p-1"],
  ["--port"],
  ["-p"],
  ["--port", "--help"],
  ["--help=yes"],
  ["-h=1"],
  ["--nope"],
  ["-x"],
  ["-xyz"],
  ["-hx"],
  ["---x"],
  ["--=x"],
  ["positional"],
  ["-"],
  ["--", "--port", "x"],
  ["--port", "1", "--", "a", "-b"],
  ["--__proto__=1"],
  ["--constructor"],
  ["--toString", "x"],
  ["--port", "8005", "extra"],
  ["--tag"],
  ["-ht"],
  ["-th"],
];

/** What a parser gives for `args`: its result, or its error's message. */
function outcome(parse: () => { values: object; positionals: string[] }): unknown {
  try {
    const r = parse();
    return { values: { ...r.values }, positionals: r.positionals };
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

for (const allowPositionals of [false, true]) {
  Deno.test(`flags parse as node:util parseArgs does (positionals ${allowPositionals})`, () => {
    for (const args of CASES) {
      const ours = outcome(() => parseArgv(args, OPTIONS, allowPositionals));
      const node = outcome(() =>
        parseArgs({ args, options: OPTIONS, strict: true, allowPositionals })
      );
      assert.deepEqual(ours, node, JSON.stringify(args));
    }
  });
}

Deno.test("parsed flags have no prototype to confuse a lookup", () => {
  const { values } = parseArgv(["--port", "1"], OPTIONS, false);
  assert.equal(Object.getPrototypeOf(values), null);
  assert.equal(values.toString, undefined);
});

Deno.test("parentDir is node:path's dirname", () => {
  const paths = [
    "",
    "/",
    "//",
    "///",
    "a",
    "a/",
    "a//",
    "/a",
    "/a/",
    "//a",
    "a/b",
    "a//b",
    "a/b/",
    "/var/lib/iatp/audit.db",
    "./audit.db",
    "../x/y",
    ".",
    "..",
    "/a/b//c///",
    "dir with space/file",
  ];
  for (const p of paths) assert.equal(parentDir(p), dirname(p), JSON.stringify(p));
});

Deno.test("normalizePath, joinPath and resolvePath are node:path's normalize, join, resolve", () => {
  const paths = [
    "",
    "/",
    "//",
    ".",
    "./",
    "..",
    "../",
    "a",
    "a/",
    "a/..",
    "a/../",
    "a/../..",
    "/..",
    "/../a",
    "/a/b/../../..",
    "//a//b/",
    "./a/./b/.",
    "../x/../../y",
    "/var/lib/iatp/../audit.db",
    "a/b/c/../../d/",
    "dir with space/./file",
    "...",
    ".../..",
  ];
  for (const p of paths) {
    assert.equal(normalizePath(p), normalize(p), JSON.stringify(p));
    assert.equal(resolvePath(p), resolve(p), JSON.stringify(p));
    for (const q of ["", "x", "../y", "/z/", "."]) {
      assert.equal(joinPath(p, q), join(p, q), JSON.stringify([p, q]));
      assert.equal(joinPath(q, p, "c"), join(q, p, "c"), JSON.stringify([q, p, "c"]));
    }
  }
  assert.equal(joinPath(), join());
});

Deno.test("filePath is node:url's fileURLToPath on POSIX", () => {
  const urls = [
    "file:///",
    "file:///opt/iatp/",
    "file:///opt/iatp/core/../",
    "file:///a%20b/c%25d.ts",
    "file:///%C3%A9t%C3%A9/x",
    "file:///a/b?q=1#h",
    "file:///a//b/",
    "file://localhost/etc/x",
  ];
  for (const u of urls) assert.equal(filePath(new URL(u)), fileURLToPath(new URL(u)), u);
  for (const u of ["file:///a%2fb", "file:///a%2Fb", "https://example.com/a", "file://host/a"]) {
    assert.throws(() => fileURLToPath(new URL(u)), u);
    assert.throws(() => filePath(new URL(u)), TypeError, u);
  }
});

Deno.test("parseFlags: the commands' typed parse gives parseArgs' values and refusals", () => {
  const options = {
    out: { type: "string" },
    keys: { type: "string", multiple: true },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  } as const;
  const argv = ["--out", "o", "--keys=a", "-h", "--keys", "b", "pos"];
  const { values, positionals } = parseFlags(argv, options, true);
  const node = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  assert.deepEqual({ ...values }, { ...node.values });
  assert.deepEqual(positionals, node.positionals);
  const keys: string[] | undefined = values.keys;
  assert.deepEqual(keys, ["a", "b"]);
  assert.equal(values.json, undefined);
  // Positional arguments are refused unless allowed, as parseArgs does by default.
  assert.throws(() => parseFlags(["pos"], options), FlagError);
  assert.throws(() => parseFlags(["--out"], options), /argument missing/);
});
