/**
 * The demo for `iatp up`: a small LLM-shaped echo agent, and a stream of sample traffic (access
 * intents through the mesh, sidecar calls with and without PII, from a trusted and an untrusted
 * agent) so the dashboard shows allow, deny, block (403) and warn (449) within seconds.
 * @module
 */
import { delayOf } from "../async/mod.ts";
import type { Service } from "../http/mod.ts";
import { createServer } from "../http/mod.ts";
import type { Logger } from "../log/mod.ts";
import type { RelayClient } from "../relay/mod.ts";

/** Starts the demo agent: any POST answers a chat-completion-shaped echo of its JSON body. */
export function startDemoAgent(
  opts: { host: string; port: number; log: Logger },
): Promise<Service> {
  const server = createServer({ service: "demo-agent", ...opts });
  let n = 0;
  server.routes((app) => {
    app.post("*", async (c) => {
      const body = await c.req.json().catch(() => ({}));
      const text = typeof body?.text === "string" ? body.text : JSON.stringify(body).slice(0, 200);
      n++;
      return c.json({
        id: `demo-${n}`,
        model: "iatp-demo-echo-1",
        reply: `You said: ${text}`,
        usage: { prompt_chars: text.length, completion_chars: text.length + 10 },
      });
    });
  });
  return server.listen();
}

/** One step of the demo stream. */
export interface DemoStep {
  kind: "intent" | "sidecar";
  describe: string;
  run(): Promise<void>;
}

/** Where the demo sends its traffic. */
export interface DemoTargets {
  relay?: RelayClient;
  trustedSidecar?: string;
  untrustedSidecar?: string;
}

function intent(tx: string, enterprise: string, scope: string, risk: number) {
  return {
    tx_id: tx,
    subject: { enterprise: "A", id: "agent-7", roles: ["analyst"] },
    resource: { enterprise, id: "dataset-42", scope },
    context: { device: "managed-laptop", geo: "EU", session_risk: risk },
  };
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const r = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  await r.body?.cancel();
}

/**
 * The repeating demo script: four intents, four sidecar calls. `seq` gives each intent's id
 * suffix (`demo-<seq>`); it must not repeat across runs, or a policy that remembers ids it
 * decided skips them.
 */
export function demoSteps(t: DemoTargets, seq: () => string): DemoStep[] {
  const steps: DemoStep[] = [];
  if (t.relay) {
    const relay = t.relay;
    const publish = (body: Record<string, unknown>) => {
      relay.publish("access.intent", body);
      return Promise.resolve();
    };
    steps.push(
      {
        kind: "intent",
        describe: "allow: A reads B at risk 42",
        run: () => publish(intent(`demo-${seq()}`, "B", "read", 42)),
      },
      {
        kind: "intent",
        describe: "deny: risk 70",
        run: () => publish(intent(`demo-${seq()}`, "B", "read", 70)),
      },
      {
        kind: "intent",
        describe: "deny: write scope",
        run: () => publish(intent(`demo-${seq()}`, "B", "write", 10)),
      },
      {
        kind: "intent",
        describe: "deny: unknown enterprise",
        run: () => publish(intent(`demo-${seq()}`, "C", "read", 10)),
      },
    );
  }
  if (t.trustedSidecar) {
    const url = `${t.trustedSidecar}/proxy/chat`;
    steps.push(
      {
        kind: "sidecar",
        describe: "allow: plain chat",
        run: () => post(url, { task: "chat", text: "summarise the Q3 report" }),
      },
      {
        kind: "sidecar",
        describe: "block 403: SSN",
        run: () => post(url, { task: "verify", customer: { ssn: "123-45-6789" } }),
      },
    );
  }
  if (t.untrustedSidecar) {
    const url = `${t.untrustedSidecar}/proxy/chat`;
    steps.push(
      {
        kind: "sidecar",
        describe: "block 403: card at permanent retention",
        run: () => post(url, { task: "purchase", card: "4532-0151-1283-0366" }),
      },
      {
        kind: "sidecar",
        describe: "warn 449: untrusted agent",
        run: () => post(url, { task: "chat", text: "book me a flight" }),
      },
    );
  }
  return steps;
}

/** Runs the demo steps round-robin every `intervalMs` until stopped. */
export function runDemoTraffic(
  steps: DemoStep[],
  intervalMs: number,
  log: Logger,
): { stop(): void } {
  let i = 0;
  let busy = false;
  const tick = async () => {
    if (busy || steps.length === 0) return;
    busy = true;
    const step = steps[i++ % steps.length];
    try {
      await step.run();
    } catch (err) {
      log.warn("demo step failed", { step: step.describe, err });
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(tick, delayOf(intervalMs));
  queueMicrotask(tick);
  return { stop: () => clearInterval(timer) };
}
