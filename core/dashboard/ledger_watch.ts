/**
 * The ledger card of the overview: the dashboard fetches the audit service's signed checkpoint
 * on a timer, checks its signature (with the pinned `audit_public_key`, else the key the service
 * serves) and proves each new checkpoint extends the last one it saw (RFC 9162 consistency proof).
 * A checkpoint that passes is `verified` only under the pinned key; under the served key it is
 * `unpinned`, since anyone answering as the audit service would pass. In memory only; `iatp audit verify` is the durable monitor.
 * @module
 */
import { lateImport } from "../config/mod.ts";
import { type NoteVerifier, parseVkey } from "../ledger/vkey/mod.ts";
import { every, type Timer } from "../async/mod.ts";
import { encodeHex } from "../encoding/mod.ts";
import { fetchJson } from "./fetch_json.ts";

/**
 * The proofs (core/ledger/proof: signed notes, Merkle consistency), loaded with the first check:
 * a dashboard without `audit_url` never loads them.
 */
type Proof = typeof import("../ledger/proof/mod.ts");

/** The reason a check gives when the proofs cannot be loaded (no checkpoint is then shown). */
const PROOFS_UNAVAILABLE = "the checkpoint checks could not be loaded";

/** Largest checkpoint or proof answer read. */
const MAX_CHECKPOINT_BYTES = 64 * 1024;

/** What the overview shows of the ledger. */
export interface LedgerState {
  /**
   * `verified`: signed by the pinned key and consistent; `unpinned`: the same checks passed, but
   * with the key the service serves (who signed it is unknown).
   */
  state: "not_configured" | "unknown" | "verified" | "unpinned" | "failed" | "unreachable";
  tree_size?: number;
  root_hash?: string;
  /** When the checkpoint shown was fetched. */
  checked_at?: string;
  /** True when the signature was checked with the configured key, not the served one. */
  pinned?: boolean;
  reason?: string;
}

/** Watches one audit service's checkpoints; see the module doc. */
export class LedgerWatch {
  #state: LedgerState;
  #last: { size: number; root: Uint8Array } | undefined;
  #timer: Timer | undefined;
  #round: Promise<void> | undefined;

  constructor(
    private readonly o: {
      url?: string;
      publicKey?: NoteVerifier;
      intervalMs: number;
      timeoutMs: number;
    },
  ) {
    this.#state = { state: o.url ? "unknown" : "not_configured" };
  }

  /** The current view. */
  snapshot(): LedgerState {
    return { ...this.#state };
  }

  /** Starts checking (the first check right away). */
  start(): void {
    if (!this.o.url) return;
    this.#timer = every(this.o.intervalMs, () => void this.check());
    void this.check();
  }

  /** One check (a check in progress is joined). */
  check(): Promise<void> {
    return this.#round ??= (async () => {
      try {
        this.#state = await this.#once();
      } finally {
        this.#round = undefined;
      }
    })();
  }

  async #once(): Promise<LedgerState> {
    const base = this.o.url!.replace(/\/+$/, "");
    const limits = { timeoutMs: this.o.timeoutMs, maxBytes: MAX_CHECKPOINT_BYTES };
    const checked_at = new Date().toISOString();
    let proof: Proof;
    try {
      proof = await lateImport<Proof>("../ledger/proof/mod.ts", import.meta.url);
    } catch {
      return { state: "failed", checked_at, reason: PROOFS_UNAVAILABLE };
    }
    const { bytesEqual, openCheckpoint, parseHash, verifyConsistency } = proof;
    const a = await fetchJson(`${base}/checkpoint`, limits);
    if (!a.ok) return { state: "unreachable", checked_at, reason: a.error };
    const body = a.body && typeof a.body === "object" ? a.body : {};
    const served = parseVkey(String(Reflect.get(body, "vkey") ?? ""));
    const verifier = this.o.publicKey ?? served;
    const pinned = this.o.publicKey !== undefined;
    if (!verifier) return { state: "failed", checked_at, reason: "no verifier key" };
    const opened = await openCheckpoint(String(Reflect.get(body, "checkpoint") ?? ""), verifier);
    if ("reason" in opened) return { state: "failed", checked_at, pinned, reason: opened.reason };
    const cp = opened.checkpoint;
    const view = { tree_size: cp.treeSize, root_hash: encodeHex(cp.rootHash), checked_at, pinned };
    const fail = (reason: string): LedgerState => ({ state: "failed", ...view, reason });
    const prev = this.#last;
    if (prev) {
      if (cp.treeSize < prev.size) return fail(`log shrank from ${prev.size} to ${cp.treeSize}`);
      if (cp.treeSize === prev.size && !bytesEqual(prev.root, cp.rootHash)) {
        return fail(`log forked at size ${cp.treeSize}`);
      }
      if (cp.treeSize > prev.size && prev.size > 0) {
        const q = `first=${prev.size}&second=${cp.treeSize}`;
        const p = await fetchJson(`${base}/proof/consistency?${q}`, limits);
        const list = p.ok && p.body && typeof p.body === "object"
          ? Reflect.get(p.body, "consistency_proof")
          : undefined;
        const hashes = Array.isArray(list)
          ? list.map((h) => parseHash(h) ?? new Uint8Array())
          : undefined;
        if (!hashes) return fail(`no consistency proof: ${p.ok ? "malformed" : p.error}`);
        if (!verifyConsistency(prev.size, cp.treeSize, prev.root, cp.rootHash, hashes)) {
          return fail(`checkpoint ${cp.treeSize} is not consistent with ${prev.size}`);
        }
      }
    }
    this.#last = { size: cp.treeSize, root: cp.rootHash };
    return { state: pinned ? "verified" : "unpinned", ...view };
  }

  /** Stops checking. */
  async close(): Promise<void> {
    this.#timer?.cancel();
    await this.#round;
  }
}
