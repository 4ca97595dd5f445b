/**
 * The HTTP client against an https origin in a process of its own (the test runs it with
 * DENO_CERT naming a test CA): args are the origin and the scenarios to run, each a path the
 * test's server answers in its own way. Prints one JSON line per scenario: what reading the
 * answer's body ended in (`{scenario, text, error?: {name, kind, message}}`).
 * @module
 */
import { createOriginClient, HttpClientError } from "../../core/http/client/mod.ts";
import { sleep } from "../../core/async/mod.ts";

const [origin, ...scenarios] = Deno.args;
const dec = new TextDecoder();

/** The request of each scenario, and what the client does while it reads the body. */
async function run(scenario: string): Promise<Record<string, unknown>> {
  const client = createOriginClient(origin);
  const stop = new AbortController();
  let text = "";
  try {
    const res = await client.send({
      method: "GET",
      target: `/${scenario}`,
      headers: [],
      body: new Uint8Array(0),
      // `timeout`: the whole exchange's deadline ends the stalled body; the others bound the
      // head alone and end the body (or not) through the signal.
      timeoutMs: scenario === "timeout" ? 300 : 10_000,
      deadline: scenario === "timeout" ? undefined : "head",
      signal: stop.signal,
    });
    if (!(res.body instanceof ReadableStream)) return { scenario, text: "not a stream" };
    const reader = res.body.getReader();
    for (;;) {
      const read = reader.read();
      if (scenario === "abort" && text !== "") {
        await sleep(50);
        stop.abort(new Error("stopping"));
      }
      const { value, done } = await read;
      if (done) break;
      text += dec.decode(value);
    }
    return { scenario, text };
  } catch (err) {
    const e = err as Error;
    const kind = err instanceof HttpClientError ? err.kind : undefined;
    return { scenario, text, error: { name: e.name, kind, message: e.message } };
  } finally {
    client.close();
  }
}

for (const s of scenarios) console.log(JSON.stringify(await run(s)));
