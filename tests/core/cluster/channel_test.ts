/**
 * The channel between isolates over a real message port: string data (or none), string and
 * integer answers cross as one string each, and the other side receives exactly what was sent,
 * whatever the string holds; everything else keeps the object form, errors included.
 * @module
 */
import assert from "node:assert/strict";
import { Channel, type Endpoint } from "../../../core/cluster/mod.ts";
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
    assert.equal(sent.filter((m) => typeof m === "string").length, texts.length + 2);
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
