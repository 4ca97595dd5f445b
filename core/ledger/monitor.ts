/**
 * Live log monitoring (`iatp audit verify --url`): fetch the signed checkpoint, check its
 * signature, and prove it extends the last checkpoint this monitor saw (RFC 9162 consistency),
 * remembering what it saw in a small JSON state file.
 * @module
 */
import { timeoutSignal } from "../async/mod.ts";
import {
  ensureParentDir,
  PRIVATE_FILE_MODE,
  readTextWithin,
  unreadableWhy,
} from "../config/mod.ts";
import { bytesEqual, parseHash } from "./proof/mod.ts";
import { encodeHex } from "../encoding/mod.ts";
import { verifyConsistency } from "./proof/mod.ts";
import { openCheckpoint, parseVkey } from "./proof/mod.ts";
import { errorMessage } from "../errors/mod.ts";
import { MonitorStateError } from "./errors.ts";
import { readBody } from "../http/mod.ts";
import { redactUrl } from "../engine/mod.ts";

/** What the monitor remembers per log URL. */
interface SeenCheckpoint {
  vkey: string;
  tree_size: number;
  root_hash: string;
  checkpoint: string;
  checked_at: string;
}

/** Result of one monitor run. */
export interface MonitorReport {
  ok: boolean;
  url: string;
  tree_size?: number;
  root_hash?: string;
  previous_size?: number;
  /** True when the key was taken on first use rather than pinned or remembered. */
  trusted_on_first_use?: boolean;
  reason?: string;
}

/** Options for {@linkcode checkLiveLog}. */
export interface MonitorOptions {
  url: string;
  stateFile: string;
  /** Expected signer (C2SP vkey); default the remembered one, else the served one (TOFU). */
  vkey?: string;
  timeoutMs?: number;
}

type State = Record<string, SeenCheckpoint>;

/**
 * The state file, read as every file a setting names is (up to 1 MiB, within
 * `IATP_FILE_READ_TIMEOUT`, so a pipe with no writer is an error, not a hang); a file that is not
 * JSON is reported without its text (it may be a credential given by mistake), which JSON.parse's
 * message would quote.
 */
async function readState(path: string): Promise<State> {
  let text: string;
  try {
    text = await readTextWithin(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return {};
    throw new MonitorStateError(path, unreadableWhy(err), { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new MonitorStateError(path, "not JSON");
  }
  if (parsed === null) return {};
  if (typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new MonitorStateError(path, "not a JSON object of logs");
  }
  for (const [log, seen] of Object.entries(parsed)) {
    const s = seen as Partial<SeenCheckpoint> | null;
    if (
      typeof s !== "object" || s === null || !Number.isSafeInteger(s.tree_size) ||
      (s.tree_size as number) < 0 || typeof s.root_hash !== "string" ||
      (s.vkey !== undefined && typeof s.vkey !== "string")
    ) {
      throw new MonitorStateError(path, `its entry for ${redactUrl(log)} is not a checkpoint seen`);
    }
  }
  return parsed as State;
}

async function writeState(path: string, state: State): Promise<void> {
  await ensureParentDir(path);
  const tmp = `${path}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(state, null, 2) + "\n", { mode: PRIVATE_FILE_MODE });
  await Deno.rename(tmp, path); // atomic: a crash never leaves half a state file
}

/** Largest checkpoint or proof answer read from the log. */
const MAX_ANSWER_BYTES = 1024 * 1024;

async function getJson(url: string, timeoutMs: number): Promise<Record<string, unknown>> {
  const res = await fetch(url, {
    headers: { accept: "application/json" },
    signal: timeoutSignal(timeoutMs),
  });
  const text = new TextDecoder().decode(await readBody(res, { limit: MAX_ANSWER_BYTES }));
  if (!res.ok) throw new Error(`${redactUrl(url)} answered ${res.status}: ${text.slice(0, 200)}`);
  return JSON.parse(text);
}

/** Longest reason a report gives (it may quote what the log served). */
const MAX_REASON_CHARS = 500;

/**
 * A reason as it may be printed: what the log served (its answer, a key) can hold terminal
 * control sequences, which are shown escaped (`\u001b`), and it is cut to MAX_REASON_CHARS.
 */
function harmless(reason: string): string {
  const shown = reason.replace(
    /[\p{Cc}\u2028\u2029]/gu,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
  return shown.length > MAX_REASON_CHARS ? `${shown.slice(0, MAX_REASON_CHARS)}...` : shown;
}

/** The state file's key for a log: its URL without the password (as the URL parser reads it). */
function stateKey(base: string): string {
  try {
    const u = new URL(base);
    u.password = "";
    return u.href.replace(/\/+$/, "");
  } catch {
    return base;
  }
}

/** Checks a live log once; updates the state file only when everything verified. */
export async function checkLiveLog(opts: MonitorOptions): Promise<MonitorReport> {
  const base = opts.url.replace(/\/+$/, "");
  const timeoutMs = opts.timeoutMs ?? 10_000;
  // Reports (printed and kept) name the log without the password its URL may carry.
  const shown = redactUrl(base).replace(/\/+$/, "");
  const fail = (reason: string, extra: Partial<MonitorReport> = {}): MonitorReport => ({
    ...extra,
    ok: false,
    url: shown,
    reason: harmless(reason),
  });
  const state = await readState(opts.stateFile);
  // Kept under the URL without its password; a state file written before that is read too.
  const key = stateKey(base);
  const seen = state[key] ?? state[base];
  let served: Record<string, unknown>;
  try {
    served = await getJson(`${base}/checkpoint`, timeoutMs);
  } catch (err) {
    return fail(`cannot fetch checkpoint: ${errorMessage(err)}`);
  }
  const vkeyText = opts.vkey ?? seen?.vkey ?? String(served.vkey ?? "");
  const verifier = parseVkey(vkeyText);
  if (!verifier) return fail(`no usable verifier key (${vkeyText || "none"})`);
  const opened = await openCheckpoint(String(served.checkpoint ?? ""), verifier);
  if ("reason" in opened) return fail(opened.reason);
  const cp = opened.checkpoint;
  const report: MonitorReport = {
    ok: true,
    url: shown,
    tree_size: cp.treeSize,
    root_hash: encodeHex(cp.rootHash),
    trusted_on_first_use: !opts.vkey && !seen,
  };
  if (seen) {
    report.previous_size = seen.tree_size;
    const oldRoot = parseHash(seen.root_hash);
    if (!oldRoot) return fail("state file holds a malformed root hash");
    if (cp.treeSize < seen.tree_size) {
      return fail(`log shrank from ${seen.tree_size} to ${cp.treeSize} entries`, report);
    }
    if (cp.treeSize === seen.tree_size && !bytesEqual(oldRoot, cp.rootHash)) {
      return fail(`log forked: same size ${cp.treeSize}, different root`, report);
    }
    if (cp.treeSize > seen.tree_size && seen.tree_size > 0) {
      let proof: Uint8Array[];
      try {
        const p = await getJson(
          `${base}/proof/consistency?first=${seen.tree_size}&second=${cp.treeSize}`,
          timeoutMs,
        );
        proof = (p.consistency_proof as string[]).map((h) => parseHash(h) ?? new Uint8Array());
      } catch (err) {
        return fail(`cannot fetch consistency proof: ${errorMessage(err)}`, report);
      }
      if (!verifyConsistency(seen.tree_size, cp.treeSize, oldRoot, cp.rootHash, proof)) {
        return fail(`checkpoint ${cp.treeSize} is not consistent with ${seen.tree_size}`, report);
      }
    }
  }
  delete state[base];
  state[key] = {
    vkey: vkeyText,
    tree_size: cp.treeSize,
    root_hash: encodeHex(cp.rootHash),
    checkpoint: String(served.checkpoint),
    checked_at: new Date().toISOString(),
  };
  await writeState(opts.stateFile, state);
  return report;
}
