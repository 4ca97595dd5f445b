/**
 * The channel between isolates over a real message port: string data (or none), string and
 * integer answers cross as one string each, and the other side receives exactly what was sent,
 * whatever the string holds; everything else keeps the object form, errors included.
 * @module
 */
import assert from "node:assert/strict";
import { Channel, type Endpoint } from "../../../core/cluster/mod.ts";
import { COALESCE_MAX_CHARS } from "../../../core/cluster/channel.ts";
import { HttpError } from "../../../core/errors/mod.ts";

/** Two channels over one MessageChannel; `sent` records what each side put on the port. */
function pair() {
  const { port1, port2 } = new MessageChannel();
  port1.start();
  port2.start();
  const sent: unknown[] = [];
  const spy = (port: MessagePort): Endpoint => ({
    postMessage: (m) => {
      sent.push(m);
      port.postMessage(m);
    },
    addEventListener: (type, fn) => port.addEventListener(type, fn),
  });
  return {
    a: new Channel(spy(port1)),
    b: new Channel(spy(port2)),
    sent,
    close: () => {
      port1.close();
      port2.close();
    },
  };
}

/** Resolves once `test()` holds, checking after each turn of the event loop. */
async function until(test: () => boolean): Promise<void> {
  for (let i = 0; i < 1_000 && !test(); i++) await new Promise((r) => setTimeout(r, 1));
  assert.ok(test(), "condition never held");
}

const texts = [
  "",
  "plain",
  "P\nkind\n",
  "C1 x\ny",
  "R7\n",
  "N3\n4",
  " ",
  "日本 🚀 \uD800",
  "x".repeat(100_000),
];

Deno.test("channel: posts of a string or of nothing arrive exactly and cross as strings", async () => {
  const { a, b, sent, close } = pair();
  const got: unknown[] = [];
  b.on("text", (d) => got.push(d));
  b.on("bare", (d) => got.push(["bare", d]));
  try {
    for (const t of texts) a.post("text", t);
    a.post("bare");
    a.post("text", { n: 1 });
    const { promise, resolve } = Promise.withResolvers<void>();
    b.on("done", () => resolve());
    a.post("done");
    await promise;
    assert.deepStrictEqual(got, [...texts, ["bare", undefined], { n: 1 }]);
    assert.ok(sent.every((m) => typeof m === "string" || (m as { post?: string }).post === "text"));
    assert.equal(sent.filter((m) => typeof m !== "string").length, 1, "the object stays an object");
  } finally {
    close();
  }
});

Deno.test("channel: calls with strings, answers of strings and integers come back exactly", async () => {
  const { a, b, sent, close } = pair();
  b.on("echo", (d) => d);
  b.on("len", (d) => (d as string).length);
  b.on("value", (d) => JSON.parse(d as string));
  b.on("minus-zero", () => -0);
  b.on("fail", () => {
    throw new HttpError(418, "short and stout");
  });
  try {
    for (const t of texts) {
      assert.equal(await a.call("echo", t), t);
      assert.equal(await a.call("len", t), t.length);
    }
    assert.equal(await a.call("echo"), undefined);
    for (const v of [1.5, 2 ** 60, -3, true, null, { a: [1] }, "-1", Number.MAX_SAFE_INTEGER]) {
      assert.deepStrictEqual(await a.call("value", JSON.stringify(v)), v);
    }
    assert.ok(Object.is(await a.call("minus-zero"), -0));
    const objects = sent.length;
    assert.deepStrictEqual(await a.call("echo", { n: 7 }), { n: 7 });
    assert.equal(sent.slice(objects).filter((m) => typeof m !== "string").length, 2);
    await assert.rejects(
      a.call("fail", "x"),
      (err) => err instanceof HttpError && err.status === 418 && err.message === "short and stout",
    );
    await assert.rejects(a.call("nothing-here", "x"), /no handler for nothing-here/);
    const strings = sent.filter((m) => typeof m === "string").length;
    assert.ok(strings >= 4 * texts.length, `${strings} string messages`);
  } finally {
    close();
  }
});

Deno.test("channel: a kind holding a line feed still arrives (as an object)", async () => {
  const { a, b, sent, close } = pair();
  b.on("two\nlines", (d) => `got ${d}`);
  try {
    assert.equal(await a.call("two\nlines", "x"), "got x");
    assert.equal(typeof sent[0], "object");
  } finally {
    close();
  }
});

Deno.test("channel: what one turn sends leaves as one message, in order, objects in between included", async () => {
  const { a, b, sent, close } = pair();
  const got: unknown[] = [];
  b.on("t", (d) => got.push(d));
  b.on("sum", (d) => (d as string).length);
  try {
    a.post("t", "one");
    a.post("t");
    const first = a.call("sum", "abc");
    a.post("t", "two");
    a.post("t", { three: 3 }); // the object form: what was queued leaves first
    a.post("t", "four");
    const second = a.call("sum", "abcd");
    assert.deepStrictEqual(await Promise.all([first, second]), [3, 4]);
    assert.deepStrictEqual(got, ["one", undefined, "two", { three: 3 }, "four"]);
    const fromA = sent.slice(0, 3);
    assert.equal(
      fromA.length,
      3,
      "three port messages: the strings before the object, it, the rest",
    );
    assert.equal(typeof fromA[0], "string");
    assert.equal(typeof fromA[1], "object");
    assert.equal(typeof fromA[2], "string");
    assert.equal(sent.length, 5, "and one answer for each of the two port messages with a call");
  } finally {
    close();
  }
});

Deno.test("channel: messages sent together stay within their bound; a longer one leaves alone", async () => {
  const { a, b, sent, close } = pair();
  const got: string[] = [];
  b.on("t", (d) => got.push(d as string));
  const big = "y".repeat(COALESCE_MAX_CHARS + 1);
  const part = "x".repeat(COALESCE_MAX_CHARS / 4);
  try {
    const all = [part, part, part, part, part, big, "tail"];
    for (const t of all) a.post("t", t);
    const { promise, resolve } = Promise.withResolvers<void>();
    b.on("done", () => resolve());
    a.post("done");
    await promise;
    assert.deepStrictEqual(got, all);
    for (const m of sent) {
      const text = m as string;
      if (text.includes("y")) assert.equal(text, "Pt\n" + big, "the long one alone");
      else assert.ok(text.length <= COALESCE_MAX_CHARS + 64, String(text.length));
    }
    assert.ok(sent.length >= 4, `${sent.length} port messages`);
  } finally {
    close();
  }
});

Deno.test("channel: many short messages sent together stay within the bound, their lengths counted", async () => {
  // The bound is on the port message: each message's `<length>:` counts too.
  const { a, b, sent, close } = pair();
  let got = 0;
  b.on("", () => got++);
  try {
    const n = COALESCE_MAX_CHARS; // `p` and nothing: 1 character each, 3 with its length
    for (let i = 0; i < n; i++) a.post("");
    await until(() => got === n);
    for (const m of sent) {
      assert.ok((m as string).length <= COALESCE_MAX_CHARS + 1, String((m as string).length));
    }
  } finally {
    close();
  }
});

Deno.test("channel: a post whose kind holds a line feed arrives whole (as an object)", async () => {
  const { a, b, sent, close } = pair();
  const got: unknown[] = [];
  b.on("two\nlines", (d) => got.push(d));
  b.on("two", (d) => got.push(["wrong", d]));
  try {
    a.post("two\nlines", "x\ny");
    a.post("two\nlines");
    await until(() => got.length === 2);
    assert.deepStrictEqual(got, ["x\ny", undefined]);
    assert.equal(typeof sent[0], "object");
  } finally {
    close();
  }
});

Deno.test("channel: random kinds, data and answers arrive as structured clone gives them, in order", async () => {
  // Differential: whatever crosses as a string must arrive as the object form would have it.
  const { a, b, close } = pair();
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const pieces = ["", ":", ",", "\n", " ", "B", "P", "p", "C", "c", "R", "N", "-", "0", "12:"];
  const odd = ["\uD800", "\uDC00", "🚀", "B3:abc", "\r", "\u0000", "x".repeat(70_000)];
  const text = () =>
    Array.from({ length: Math.floor(rnd() * 5) }, () => pick([...pieces, ...odd])).join("");
  const numbers = [
    NaN,
    -0,
    0,
    Infinity,
    -Infinity,
    2 ** 53,
    2 ** 53 - 1,
    -(2 ** 53 - 1),
    1.5,
    1e21,
  ];
  const value = (): unknown => {
    const r = rnd();
    if (r < 0.5) return text();
    if (r < 0.6) return undefined;
    if (r < 0.8) return pick(numbers);
    if (r < 0.85) return null;
    return r < 0.9 ? { s: text(), n: -0 } : [text()];
  };
  const same = (want: unknown, got: unknown) => {
    if (typeof want === "object" && want !== null) assert.deepStrictEqual(got, want);
    else assert.ok(Object.is(got, want), `${String(want)} arrived as ${String(got)}`);
  };
  try {
    for (let round = 0; round < 300; round++) {
      const kinds = Array.from({ length: 1 + Math.floor(rnd() * 20) }, text);
      const sent: Array<[string, unknown]> = [];
      const got: Array<[string, unknown]> = [];
      const answers: unknown[] = []; // one per message, in order (none for a post)
      for (const k of new Set(kinds)) {
        b.on(k, (d) => {
          got.push([k, d]);
          return answers.shift();
        });
      }
      const calls: Promise<void>[] = [];
      for (const k of kinds) {
        const d = value();
        sent.push([k, d]);
        if (rnd() < 0.5) {
          answers.push(undefined);
          a.post(k, d);
        } else {
          const answer = value();
          answers.push(answer);
          calls.push(a.call(k, d).then((v) => same(answer, v)));
        }
        if (rnd() < 0.2) await Promise.resolve(); // some in a later turn
      }
      await Promise.all(calls);
      await until(() => got.length === sent.length);
      for (const [i, [k, d]] of sent.entries()) {
        assert.equal(got[i][0], k);
        same(d, got[i][1]);
      }
    }
  } finally {
    close();
  }
});
