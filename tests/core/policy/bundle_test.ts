/**
 * Bundles an operator gets wrong, read from real folders: policies nested past what Cedar's
 * WebAssembly stack survives are refused before Cedar sees them (an overflow there breaks every
 * later decision), errors name the file and line, files must be UTF-8, the entities are checked
 * against the schema whatever the schema file is called, and symlinked files are read.
 */
import assert from "node:assert/strict";
import { DEFAULT_POLICY_DIR } from "../../../cmd/policy.ts";
import {
  DEFAULT_MAX_POLICIES,
  loadBundle,
  MAX_ENTITY_ANCESTORS,
  MAX_POLICY_EXPRESSION_DEPTH,
  MAX_POLICY_NESTING,
  MAX_POLICY_OPERATORS,
  MAX_SCHEMA_BYTES,
  parseBundle,
  PolicyBundleError,
} from "../../../core/policy/bundle.ts";
import { PolicyEngine } from "../../../core/policy/engine.ts";
import { tempDir } from "../../helpers.ts";

const SEED_INTENT = {
  subject: { enterprise: "A", id: "a" },
  resource: { enterprise: "B", id: "r", scope: "read" },
  context: { session_risk: 1 },
};

const seed = await Deno.readTextFile(`${DEFAULT_POLICY_DIR}/seed.cedar`);
const schema = await Deno.readTextFile(`${DEFAULT_POLICY_DIR}/schema.cedarschema`);

/** Loads a bundle folder (a name with a space) holding `files`; `setup` adds links. */
async function load(
  files: Record<string, string | Uint8Array>,
  setup?: (dir: string) => Promise<void>,
) {
  const dir = await tempDir("iatp policy bundle ");
  try {
    for (const [name, body] of Object.entries(files)) {
      if (typeof body === "string") await Deno.writeTextFile(`${dir.path}/${name}`, body);
      else await Deno.writeFile(`${dir.path}/${name}`, body);
    }
    await setup?.(dir.path);
    return await loadBundle(dir.path);
  } finally {
    await dir.remove();
  }
}

async function refused(
  files: Record<string, string | Uint8Array>,
  re: RegExp,
  where?: { file: string; line?: number },
  setup?: (dir: string) => Promise<void>,
) {
  const err = await load(files, setup).then(
    () => assert.fail(`loaded; expected ${re}`),
    (e) => e,
  );
  assert.ok(err instanceof PolicyBundleError, String(err));
  assert.match(err.message, re);
  if (where) {
    assert.equal(err.file, where.file);
    assert.equal(err.line, where.line);
  }
}

const when = (expr: string) => `permit (principal, action, resource) when { ${expr} };`;

Deno.test("policies nested past Cedar's stack are refused naming file and line; decisions go on", async () => {
  const engine = new PolicyEngine(await load({ "seed.cedar": seed }));
  const deep: Array<[string, RegExp]> = [
    // Each of these overflows cedar-wasm's stack (parser or evaluator) when let through.
    ["(".repeat(200) + "true" + ")".repeat(200), /nested deeper than 32 brackets/],
    ["[".repeat(200) + "]".repeat(200) + " == []", /nested deeper than 32 brackets/],
    ["{a:".repeat(200) + "1" + "}".repeat(200) + " == {}", /nested deeper than 32 brackets/],
    [Array(5000).fill("true").join(" && "), /more than 512 operators in one policy/],
    [Array(400).fill("1").join(" + ") + " > 0", /expression nested deeper than 256 levels/],
    ["context" + ".a".repeat(400) + " == 1", /expression nested deeper than 256 levels/],
    [
      "if true then ".repeat(400) + "true" + " else false".repeat(400),
      /expression nested deeper than 256 levels/,
    ],
  ];
  assert.equal(MAX_POLICY_NESTING, 32);
  assert.equal(MAX_POLICY_OPERATORS, 512);
  assert.equal(MAX_POLICY_EXPRESSION_DEPTH, 256);
  for (const [expr, re] of deep) {
    await refused(
      { "seed.cedar": seed, "deep.cedar": `// a comment (((\n\n${when(expr)}` },
      re,
      { file: "deep.cedar", line: 3 },
    );
    // Cedar still works: the engine decides as before, and a new bundle still loads.
    const d = engine.evaluate(SEED_INTENT);
    assert.equal(d.decision, "allow", JSON.stringify(d.explanation));
    engine.install(await load({ "seed.cedar": seed }));
  }
  // Within the bounds, and brackets in strings and comments do not count.
  const fine = await load({
    "ok.cedar": `// ${"(".repeat(100)}\n` +
      when(
        `context has x && context.x == "${"(".repeat(100)}" && ` +
          Array(60).fill("1").join(" + ") + " > 0",
      ),
  });
  assert.equal(fine.policies.length, 1);
});

Deno.test("bundle errors name the line: syntax, validation, entities nested too deep", async () => {
  await refused(
    { "seed.cedar": seed, "bad one.cedar": `${seed}\n\n${when("1 + ")}\n` },
    /^bad one\.cedar:20: unexpected token/,
    { file: "bad one.cedar", line: 20 },
  );
  await refused(
    {
      "schema.cedarschema": schema,
      "x.cedar": `// first\n@id("x")\npermit (principal, action == Action::"read", resource)\n` +
        `when {\n  principal.enterprise == "A"\n};`,
    },
    /^x\.cedar:5: policy x fails validation/,
    { file: "x.cedar", line: 5 },
  );
  const nested = { a: {} as Record<string, unknown> };
  let at = nested.a;
  for (let i = 0; i < 100; i++) at = (at.a = {}) as Record<string, unknown>;
  await refused(
    {
      "seed.cedar": seed,
      "entities.json": JSON.stringify([{
        uid: { type: "G", id: "g" },
        attrs: nested,
        parents: [],
      }]),
    },
    /^entities\.json: nested deeper than 32 levels/,
  );
});

Deno.test("a bundle file that is not UTF-8 is refused naming its line, not read as U+FFFD", async () => {
  const enc = new TextEncoder();
  await refused(
    {
      "x.cedar": new Uint8Array([
        ...enc.encode(`// ok\n${when('context has x && context.x == "')}`.slice(0, -4)),
        0xff,
        0xfe,
        ...enc.encode('" };'),
      ]),
    },
    /^x\.cedar:2: not UTF-8 text/,
    { file: "x.cedar", line: 2 },
  );
});

Deno.test("errors name the line of every policy in a file, whatever order Cedar hands them back in", async () => {
  // Twelve policies: Cedar's own ids order them policy0, policy1, policy10, policy11, policy2, ...
  const policies = Array.from(
    { length: 12 },
    (_, n) => `@id("p${n}")\npermit (principal, action, resource) when { ${n} < 100 };\n`,
  );
  for (const bad of [2, 11]) {
    const text = policies.map((p, n) => n === bad ? p.replace("permit", "permit\n") : p)
      .map((p, n) => n === bad ? p.replace(`@id("p${n}")`, `@id("p0")`) : p).join("");
    // The repeated id is named at the line of its second use.
    await refused({ "many.cedar": text }, /policy id "p0" is also used/, {
      file: "many.cedar",
      line: 2 * bad + 1,
    });
  }
});

Deno.test("a byte that is not UTF-8 after multi-byte letters is named at its own line", async () => {
  const euro = new TextEncoder().encode("// \u20ac\u20ac\u20ac\n");
  const head = new Uint8Array([...euro, ...euro, ...euro, ...euro]);
  const bytes = new Uint8Array([...head, 0x2f, 0x2f, 0x20, 0xff, 0x0a]);
  await refused({ "seed.cedar": seed, "odd.cedar": bytes }, /^odd\.cedar:5: not UTF-8 text/, {
    file: "odd.cedar",
    line: 5,
  });
});

Deno.test("a UTF-8 byte order mark is not part of the policy text", async () => {
  const b = await load({ "seed.cedar": "\uFEFF" + seed });
  assert.deepEqual(b.policies.map((p) => p.id), ["seed-read-a-to-b"]);
});

Deno.test("entities.json is checked against the schema whatever the schema file is called", async () => {
  const entities = JSON.stringify([{ uid: { type: "Nope", id: "a" }, attrs: {}, parents: [] }]);
  // "schema.cedarschema" sorts after "entities.json".
  for (const name of ["a.cedarschema", "schema.cedarschema"]) {
    await refused(
      { [name]: schema, "seed.cedar": seed, "entities.json": entities },
      /^entities\.json:1: .*`Nope` which is not declared in the schema/,
    );
  }
});

Deno.test("a schema or policies in Cedar's JSON format are refused by name, not left out unvalidated", async () => {
  const jsonSchema = JSON.stringify({ "": { entityTypes: {}, actions: {} } });
  await refused(
    { "seed.cedar": seed, "s.cedarschema.json": jsonSchema },
    /^s\.cedarschema\.json: Cedar's JSON schema format is not read: .*\*\.cedarschema$/,
    { file: "s.cedarschema.json" },
  );
  await refused(
    { "seed.cedar": seed, "extra.cedar.json": "{}" },
    /^extra\.cedar\.json: Cedar's JSON policy format is not read: .*\*\.cedar$/,
  );
});

Deno.test("symlinked bundle files are read; a dangling link or a link loop is named", async () => {
  const target = await tempDir("iatp policy target ");
  try {
    await Deno.writeTextFile(`${target.path}/seed.cedar`, seed);
    // As a mounted ConfigMap: every file a link.
    const b = await load(
      {},
      (dir) => Deno.symlink(`${target.path}/seed.cedar`, `${dir}/seed.cedar`),
    );
    assert.deepEqual(b.policies.map((p) => p.id), ["seed-read-a-to-b"]);
    await refused(
      { "seed.cedar": seed },
      /^loop\.cedar: cannot be read: /,
      { file: "loop.cedar" },
      (dir) => Deno.symlink(`${dir}/loop.cedar`, `${dir}/loop.cedar`),
    );
    await refused(
      { "seed.cedar": seed },
      /^gone\.cedar: cannot be read: /,
      { file: "gone.cedar" },
      (dir) => Deno.symlink(`${dir}/nothing`, `${dir}/gone.cedar`),
    );
  } finally {
    await target.remove();
  }
});

Deno.test("hidden files are no part of a bundle: an editor's lock file does not break a load", async () => {
  const b = await load(
    { "seed.cedar": seed, ".draft.cedar": "permit (principal, action, resource" },
    // Emacs's lock file while seed.cedar is edited: a link to nowhere.
    (dir) => Deno.symlink("user@host.4242:1700000000", `${dir}/.#seed.cedar`),
  );
  assert.deepEqual(b.policies.map((p) => p.id), ["seed-read-a-to-b"]);
});

/** The error `parseBundle` throws for `files`. */
function parseError(files: Record<string, string>, maxPolicies?: number): PolicyBundleError {
  try {
    parseBundle("mem", new Map(Object.entries(files).sort()), { maxPolicies });
  } catch (err) {
    assert.ok(err instanceof PolicyBundleError, String(err));
    return err;
  }
  return assert.fail("loaded");
}

Deno.test("an entity hierarchy past its bound is refused before Cedar works it out; decisions go on", async () => {
  const chain = (n: number) =>
    JSON.stringify(
      Array.from({ length: n }, (_, i) => ({
        uid: { type: "G", id: `g${i}` },
        attrs: {},
        parents: i === 0 ? [] : [{ __entity: { type: "G", id: `g${i - 1}` } }],
      })),
      null,
      1,
    );
  const engine = new PolicyEngine(await load({ "seed.cedar": seed }));
  assert.equal(MAX_ENTITY_ANCESTORS, 100_000);
  // 1,000 groups in a chain: 499,500 (entity, ancestor) pairs, a third of a second of Cedar's
  // time on every decision (10,000 exhaust its memory and break every later decision).
  const err = parseError({ "seed.cedar": seed, "entities.json": chain(1000) });
  assert.match(err.message, /^entities\.json:\d+: the entity hierarchy holds more than 100000 /);
  assert.equal(err.file, "entities.json");
  assert.equal(engine.evaluate(SEED_INTENT).decision, "allow");
  // Within the bound it loads; a cycle is Cedar's to refuse (the count stops at it).
  assert.equal(
    parseBundle("mem", new Map([["a.cedar", seed], ["entities.json", chain(200)]]))
      .entities.length,
    200,
  );
  const cycle = JSON.stringify([
    { uid: { type: "G", id: "a" }, attrs: {}, parents: [{ type: "G", id: "b" }] },
    { uid: { type: "G", id: "b" }, attrs: {}, parents: [{ type: "G", id: "a" }] },
  ]);
  assert.match(
    parseError({ "a.cedar": seed, "entities.json": cycle }).message,
    /^entities\.json:\d+: .*has a cycle/,
  );
});

Deno.test("more policies than max_policies are refused naming the setting, before Cedar reads them", () => {
  assert.equal(DEFAULT_MAX_POLICIES, 1000);
  const policy = (n: number) => `@id("p${n}")\npermit (principal, action, resource);\n`;
  const three = [0, 1, 2].map(policy).join("");
  const err = parseError({ "a.cedar": three, "b.cedar": [3, 4, 5].map(policy).join("") }, 4);
  assert.equal(err.message, "b.cedar:4: more than 4 policies in the bundle (setting max_policies)");
  assert.equal(err.line, 4);
  // A policy Cedar cannot read past the bound is not what is named: nothing was read.
  assert.match(
    parseError({ "a.cedar": three + "not a policy;".repeat(2) }, 3).message,
    /max_policies/,
  );
  const b = parseBundle("mem", new Map([["a.cedar", three]]), { maxPolicies: 3 });
  assert.equal(b.policies.length, 3);
});

Deno.test("control characters from a bundle are escaped in its errors (they reach the terminal)", () => {
  const p = `@id("x\u001b]0;title\u0007")\npermit (principal, action, resource);\n`;
  const err = parseError({ "a.cedar": p, "b\u001b[2J.cedar": p });
  assert.equal(
    err.message,
    'b\\u001b[2J.cedar:1: policy id "x\\u001b]0;title\\u0007" is also used in a.cedar',
  );
});

Deno.test("templates and entities are named at their line; a file name not UTF-8 is said so", async () => {
  const tmpl = '@id("t")\npermit (principal == ?principal, action, resource);\n';
  await refused(
    { "a.cedar": `${seed}\n${tmpl}` },
    /^a\.cedar:\d+: policy templates \(\?principal, \?resource\) are not supported/,
    { file: "a.cedar", line: seed.split("\n").length + 1 },
  );
  const entities = JSON.stringify(
    [
      { uid: { type: "Subject", id: "a" }, attrs: {}, parents: [] },
      { uid: { type: "Nope", id: "b" }, attrs: {}, parents: [] },
    ],
    null,
    2,
  );
  await refused(
    { "schema.cedarschema": schema, "seed.cedar": seed, "entities.json": entities },
    /^entities\.json:10: .*`Nope::"b"`/,
    { file: "entities.json", line: 10 },
  );
  await refused(
    { "seed.cedar": seed, "entities.json": '[\n{"uid" 1}]' },
    /^entities\.json:2: not JSON/,
    { file: "entities.json", line: 2 },
  );
  // Linux names are bytes: one that is not UTF-8 is listed with U+FFFD, a name no file has.
  const raw = new TextEncoder().encode(`${Deno.makeTempDirSync()}/`);
  const name = new Uint8Array([...raw, 0x61, 0xff, ...new TextEncoder().encode(".cedar")]);
  const dir = new TextDecoder().decode(raw);
  try {
    const { success } = new Deno.Command("sh", {
      args: [
        "-c",
        'printf "permit (principal, action, resource);" > "$(printf "$0")"',
        Array.from(
          name,
          (b) =>
            b >= 0x20 && b < 0x7f && b !== 0x25 && b !== 0x5c
              ? String.fromCharCode(b)
              : `\\${b.toString(8).padStart(3, "0")}`,
        ).join(""),
      ],
    }).outputSync();
    assert.ok(success);
    const err = await loadBundle(dir).then(() => assert.fail("loaded"), (e) => e);
    assert.match(err.message, /^a\uFFFD\.cedar: its name is not UTF-8: rename the file$/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a schema larger than Cedar reads in a moment is refused naming the file", () => {
  assert.equal(MAX_SCHEMA_BYTES, 256 * 1024);
  const big = schema + `// ${"x".repeat(MAX_SCHEMA_BYTES)}\n`;
  const err = parseError({ "s.cedarschema": big, "seed.cedar": seed });
  assert.match(err.message, /^s\.cedarschema: a schema of \d+ bytes; at most 262144 are read$/);
  assert.equal(err.file, "s.cedarschema");
});

Deno.test("an empty @id is refused naming file and line, not a policy named by nothing", async () => {
  const ok = `@id("ok")\npermit (principal, action, resource);\n`;
  for (const id of ['@id("")', '@id(" ")', "@id"]) {
    await refused(
      { "a.cedar": `${ok}\n${id}\npermit (principal, action, resource);\n` },
      /^a\.cedar:4: @id is empty: name the policy, or leave @id out for a\.cedar#1$/,
      { file: "a.cedar", line: 4 },
    );
  }
  // Left out, the id is the file and the policy's place in it.
  const b = await load({ "a.cedar": `${ok}\npermit (principal, action, resource);\n` });
  assert.deepEqual(b.policies.map((p) => p.id), ["ok", "a.cedar#1"]);
});
