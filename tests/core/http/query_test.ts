// queryOf reads a request-target's query exactly as Hono's c.req.queries() reads the same URL.
import assert from "node:assert/strict";
import { Hono } from "hono";
import { queryOf } from "../../../core/http/query.ts";

const TARGETS = [
  "/s?topic=a&topic=b.*&since=x",
  "/s?topic=a%2",
  "/s?topic=%E2%82%AC&x",
  "/s?=1&&topic=&topic",
  "/s?to%70ic=a+b&topic=c",
  "/s?topic=a=b",
  "/s?topic=%zz%41%",
  "/s",
  "/s?",
  "/s?a+b=1&a%20b=2&a%2Bb=3",
  "/s?since=1&since=2&topic=%C3",
];

Deno.test("queryOf gives the names and values Hono's router gives", async () => {
  const app = new Hono();
  app.get("/s", (c) => c.json(c.req.queries()));
  for (const target of TARGETS) {
    const res = await app.request(`http://h${target}`);
    assert.deepEqual(Object.fromEntries(queryOf(target)), await res.json(), target);
  }
});

Deno.test("queryOf ends the query at a fragment and keeps repeated names in order", () => {
  assert.deepEqual(queryOf("/s?topic=a#&topic=b").get("topic"), ["a"]);
  assert.deepEqual(queryOf("/s?topic=b&x=1&topic=a").get("topic"), ["b", "a"]);
  assert.equal(queryOf("/s").size, 0);
});
