/** A service's once-only close. @module */
import assert from "node:assert/strict";
import { type Service, withShutdown } from "../../../core/http/mod.ts";

Deno.test("withShutdown runs the shutdown once; every close() shares its promise", async () => {
  const failed = new Promise<Error>(() => {});
  const svc: Service = { url: "http://127.0.0.1:1", failed, close: () => Promise.resolve() };
  let runs = 0;
  const gate = Promise.withResolvers<void>();
  const wrapped = withShutdown(svc, async () => {
    runs++;
    await gate.promise;
  });
  assert.equal(wrapped.url, svc.url);
  assert.equal(wrapped.failed, failed);
  const a = wrapped.close();
  const b = wrapped.close();
  assert.equal(a, b);
  gate.resolve();
  await Promise.all([a, b, wrapped.close()]);
  assert.equal(runs, 1);
});
