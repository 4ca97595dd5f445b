import assert from "node:assert/strict";
import {
  intentSchema,
  quickIntent,
  quickUpstream,
  upstreamCedarSchema,
  upstreamSchema,
} from "../../../core/policy/intent_schema.ts";

const SEED = {
  tx_id: "tx-seed",
  subject: { enterprise: "A", id: "agent-1", roles: ["buyer"] },
  resource: { enterprise: "B", id: "catalog", scope: "read" },
  context: { device: "laptop", geo: "EU", session_risk: 42 },
};

const LONG = "x".repeat(257);
const WRONG_VALUES: unknown[] = [
  undefined,
  null,
  1.5,
  -1,
  0,
  Number.MAX_SAFE_INTEGER + 1,
  Number.NaN,
  true,
  "",
  "s",
  LONG,
  [],
  ["a"],
  [1, "a"],
  {},
  { a: 1 },
  { a: [1] },
];

/** The seed with `value` at `path`, or with the key there removed (`value` absent). */
function withAt(path: string[], value: unknown, remove = false): Record<string, unknown> {
  const out = structuredClone(SEED) as Record<string, unknown>;
  let o = out;
  for (const k of path.slice(0, -1)) o = o[k] as Record<string, unknown>;
  const last = path[path.length - 1];
  if (remove) delete o[last];
  else o[last] = value;
  return out;
}

function corpus(): unknown[] {
  const paths = [
    ["tx_id"],
    ["subject"],
    ["subject", "enterprise"],
    ["subject", "id"],
    ["subject", "roles"],
    ["subject", "other"],
    ["resource"],
    ["resource", "enterprise"],
    ["resource", "id"],
    ["resource", "scope"],
    ["resource", "other"],
    ["context"],
    ["context", "session_risk"],
    ["context", "device"],
    ["context", "geo"],
    ["context", "amount"],
    ["context", "__entity"],
    ["context", "__extn"],
    ["other"],
  ];
  const out: unknown[] = [SEED, {}, null, [], "intent", Object.create(null)];
  for (const p of paths) {
    out.push(withAt(p, undefined, true));
    for (const v of WRONG_VALUES) out.push(withAt(p, v));
  }
  const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i]));
  out.push(withAt(["context"], many));
  out.push(withAt(["context"], { ...many, k64: undefined }));
  out.push(withAt(["context"], Object.fromEntries(Object.entries(many).slice(0, 64))));
  out.push(withAt(["subject", "roles"], Array.from({ length: 65 }, () => "r")));
  out.push(withAt(["subject", "roles"], Array.from({ length: 64 }, () => "r")));
  out.push(withAt(["subject", "roles"], ["a", LONG]));
  out.push(withAt(["context"], { z: 1, geo: "EU", a: true, session_risk: 3, device: "d" }));
  out.push(withAt(["context"], JSON.parse('{"__proto__": {"a": 1}, "geo": "EU"}')));
  return out;
}

/** `a` and `b` as the same JSON, key order included, and the same own keys. */
function sameShape(a: unknown, b: unknown, what: string): void {
  assert.equal(JSON.stringify(a), JSON.stringify(b), what);
  assert.deepEqual(a, b, what);
}

Deno.test("quickIntent reads the common shapes as zod does and leaves every other to zod", () => {
  let quick = 0;
  for (const [schema, min] of [[intentSchema, 0], [upstreamCedarSchema, -(2 ** 53 - 1)]] as const) {
    for (const raw of corpus()) {
      const q = quickIntent(raw, min);
      const z = schema.safeParse(raw);
      const what = JSON.stringify(raw) ?? String(raw);
      if (q === undefined) continue;
      quick++;
      assert.ok(z.success, `quick read what zod refuses: ${what}`);
      sameShape(q, z.data, what);
    }
  }
  assert.ok(quick > 100, `only ${quick} intents read without zod`);
  assert.notEqual(quickIntent(SEED, 0), undefined);
});

Deno.test("quickUpstream reads the IG&S shape as zod does and leaves every other to zod", () => {
  let quick = 0;
  for (const raw of [...corpus(), { ...SEED, tx_id: null }]) {
    const q = quickUpstream(raw);
    const z = upstreamSchema.safeParse(raw);
    const what = JSON.stringify(raw) ?? String(raw);
    if (q === undefined) continue;
    quick++;
    assert.ok(z.success, `quick read what zod refuses: ${what}`);
    assert.equal(q.tx_id, z.data.tx_id, what);
    for (const k of ["subject", "resource", "context"] as const) sameShape(q[k], z.data[k], what);
  }
  assert.ok(quick > 50, `only ${quick} intents read without zod`);
});
