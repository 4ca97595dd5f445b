/**
 * Every duration setting of every command is at most what a timer can wait (2^31 - 1 ms): a
 * longer one would fire after 1 ms. Only the settings listed here, ages compared with the clock
 * or handed to another system, take longer values, up to their own bound.
 */
import assert from "node:assert/strict";
import { COMMANDS } from "../../cmd/mod.ts";
import { verifyCommand } from "../../cmd/audit/verify.ts";
import { verifyAttestation } from "../../cmd/sidecar/verify.ts";
import type { DeclaredConfig } from "../../cmd/command.ts";
import { MAX_AGE_MS, MAX_TIMER_MS } from "../../core/config/mod.ts";
import { MAX_DELAY_MS } from "../../core/async/mod.ts";

/** `command key` of each duration that is not waited for. */
const NOT_TIMERS = new Set([
  "sidecar recorder_ttl", // a Redis TTL
  "sidecar attestation_ttl", // compared with the clock
  "relay duplicate_window", // JetStream's duplicate window
  "relay retention_age", // compared with event times, JetStream's max_age
  "dashboard session_ttl", // compared with the clock
  "sensor sensor.dedup_window", // compared with the clock
  "compose-agent replay_ttl", // compared with the clock
  "compose-agent signature_max_skew", // compared with the clock
  "compose-agent watchdog.cooldown", // compared with the clock
]);

async function specs(): Promise<[string, DeclaredConfig][]> {
  const out: [string, DeclaredConfig][] = [];
  for (const entry of COMMANDS) {
    const spec = (await entry.load()).spec;
    if (spec) out.push([entry.name, spec]);
  }
  out.push(["audit verify", verifyCommand.spec!], ["sidecar verify", verifyAttestation.spec!]);
  return out;
}

Deno.test("no duration setting of any command takes more than a timer can wait", async () => {
  assert.ok(MAX_TIMER_MS <= MAX_DELAY_MS);
  const seen = new Set<string>();
  let timers = 0;
  for (const [name, spec] of await specs()) {
    for (const leaf of spec.leaves()) {
      if (leaf.field.metavar !== "DURATION") continue;
      const id = `${name} ${leaf.key}`;
      const ok = (ms: number) => leaf.field.schema.safeParse(leaf.field.coerce(ms)).success;
      if (NOT_TIMERS.has(id)) {
        seen.add(id);
        // Still bounded: an age past 100 years overflows JetStream's nanoseconds and Date.
        assert.ok(!ok(MAX_AGE_MS + 1), `${id} takes more than ${MAX_AGE_MS} ms`);
        continue;
      }
      timers++;
      assert.ok(!ok(MAX_DELAY_MS + 1), `${id} takes ${MAX_DELAY_MS + 1} ms`);
      assert.ok(!ok(30 * 86_400_000), `${id} takes 30d`);
      assert.match(leaf.field.expected, /at most \S+\)$/, id);
    }
  }
  // The list names settings that exist (a renamed one would leave it stale).
  assert.deepEqual([...NOT_TIMERS].filter((id) => !seen.has(id)), []);
  assert.ok(timers > 100, `walked ${timers} timer settings`);
});
