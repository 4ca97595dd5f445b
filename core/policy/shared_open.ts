/**
 * Making the decision loop shared with other replicas on JetStream (`queue`): its file, which
 * reads the relay's stream format from core/relay, is imported only by a policy with a queue.
 * @module
 */
import { lateImport } from "../config/mod.ts";
import type { SharedBridgeOptions, SharedDecisionBridge } from "./shared_bridge.ts";

/** A shared decision loop, not started yet (see `SharedDecisionBridge.start`). */
export async function createSharedBridge(o: SharedBridgeOptions): Promise<SharedDecisionBridge> {
  const { SharedDecisionBridge } = await lateImport<typeof import("./shared_bridge.ts")>(
    "./shared_bridge.ts",
    import.meta.url,
  );
  return new SharedDecisionBridge(o);
}
