/**
 * The relay's answers off the wire (built-in routes, unknown paths and methods, HEAD, CORS
 * preflights, auth failures, bad input) are the ones recorded from the relay that served every
 * route through Hono at start (fixtures/relay_wire_answers.json, see wire_cases.ts), with `/health`
 * bodies since carrying their `components` and `/health/` since redirected to `/health` (as the
 * upstream services answer a route with a trailing slash), and the relay's own answers since
 * carrying `X-Content-Type-Options: nosniff` and the no-content `Content-Security-Policy`.
 * @module
 */
import assert from "node:assert/strict";
import { startRelay } from "./relay_helpers.ts";
import { wireAnswers } from "./wire_cases.ts";

Deno.test("the relay answers every non-happy-path request as recorded, in four configurations", async () => {
  const recorded = JSON.parse(
    await Deno.readTextFile(new URL("./fixtures/relay_wire_answers.json", import.meta.url)),
  );
  const answers = await wireAnswers(startRelay);
  for (const [config, cases] of Object.entries(recorded)) {
    assert.deepEqual(answers[config], cases, `answers of the ${config} relay`);
  }
  assert.deepEqual(Object.keys(answers), Object.keys(recorded));
});
