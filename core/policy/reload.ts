/**
 * Hot reload of a policy bundle directory: poll the folder's entries and each file's identity
 * (device, inode, size, mtime, ctime, a symlink's destination), reading again only files whose
 * identity changed or that changed too recently for it to tell (`BUNDLE_SETTLE_MS`); when
 * the text differs from the last poll's, compare content hashes, and on change parse and validate
 * the new set and swap it in atomically (an idle poll of a large bundle reads and hashes nothing:
 * it is polled every second). An invalid change keeps the last good set
 * and is reported (status and logs) until a good one replaces it.
 * @module
 */
import { delayOf } from "../async/mod.ts";
import type { Logger } from "../log/mod.ts";
import {
  type BundleFileCache,
  type BundleLimits,
  bundleRef,
  parseBundle,
  PolicyBundleError,
  readBundleFiles,
} from "./bundle.ts";
import type { PolicyEngine } from "./engine.ts";
import { errorMessage } from "../errors/mod.ts";

/** Default poll interval. */
export const DEFAULT_RELOAD_INTERVAL_MS = 1000;

/** What `GET /policies` shows about loading. */
export interface ReloadStatus {
  dir: string;
  policy_ref: string;
  loaded_at: string;
  reloads: number;
  /**
   * The rejected change (`file` and `line` where known): `ref` is its bundle ref, `refused` when a
   * file was refused before the bundle could be read whole, `unreadable` when the folder was.
   */
  last_error: { message: string; at: string; ref: string; file?: string; line?: number } | null;
}

/** Polls a bundle directory and installs good changes into an engine. */
export class PolicyReloader {
  #timer: ReturnType<typeof setInterval> | undefined;
  #lastSeen: string;
  /** The files the last poll read (undefined before the first). */
  #lastFiles: Map<string, string> | undefined;
  /** The identity and text of the settled files the last good read found. */
  #cache: BundleFileCache = new Map();
  /** The error of the rejected change now on disk (null while the files are the installed set). */
  #rejected: ReloadStatus["last_error"] = null;
  #busy = false;
  #status: ReloadStatus;

  constructor(
    readonly dir: string,
    readonly engine: PolicyEngine,
    readonly log: Logger,
    readonly limits: BundleLimits = {},
  ) {
    this.#lastSeen = engine.bundle.ref;
    this.#status = {
      dir,
      policy_ref: engine.bundle.ref,
      loaded_at: new Date().toISOString(),
      reloads: 0,
      last_error: null,
    };
  }

  /** Current status. */
  status(): ReloadStatus {
    return { ...this.#status };
  }

  /** Checks once; returns what happened. */
  async check(): Promise<"unchanged" | "reloaded" | "failed"> {
    let files: Map<string, string>;
    let ref: string;
    try {
      files = await readBundleFiles(this.dir, this.#cache);
      if (this.#lastFiles !== undefined && sameFiles(files, this.#lastFiles)) return "unchanged";
      ref = bundleRef(files);
    } catch (err) {
      this.#lastFiles = undefined;
      // The folder could not be read (its own read failed: Deno's error is the cause), or it
      // was read and a file in it refused (not UTF-8, a JSON format, too large, a dangling link).
      const folder = !(err instanceof PolicyBundleError) ||
        (err.file === this.dir && err.cause !== undefined);
      return this.#failed(err, folder ? "unreadable" : "refused");
    }
    this.#lastFiles = files;
    if (ref === this.#lastSeen) {
      // Readable again and as it was: the report is again that of what is on disk.
      const was = this.#status.last_error?.ref;
      if (was === "unreadable" || was === "refused") this.#status.last_error = this.#rejected;
      return "unchanged";
    }
    this.#lastSeen = ref;
    try {
      const bundle = parseBundle(this.dir, files, this.limits);
      this.engine.install(bundle);
    } catch (err) {
      return this.#failed(err, ref);
    }
    this.#rejected = null;
    this.#status = {
      ...this.#status,
      policy_ref: ref,
      loaded_at: new Date().toISOString(),
      reloads: this.#status.reloads + 1,
      last_error: null,
    };
    this.log.info("policy bundle reloaded", { policy_ref: ref, dir: this.dir });
    return "reloaded";
  }

  #failed(err: unknown, ref: string): "failed" {
    const message = errorMessage(err);
    const first = this.#status.last_error?.message !== message;
    const where = err instanceof PolicyBundleError ? { file: err.file, line: err.line } : {};
    this.#status.last_error = { message, at: new Date().toISOString(), ref, ...where };
    if (ref !== "unreadable" && ref !== "refused") this.#rejected = this.#status.last_error;
    // Log a given error once, not on every poll.
    if (first) {
      this.log.warn("policy bundle rejected; keeping the last good one", {
        error: message,
        ...where,
      });
    }
    return "failed";
  }

  /** Starts polling every `intervalMs`. */
  start(intervalMs: number): void {
    if (intervalMs <= 0 || this.#timer !== undefined) return;
    this.#timer = setInterval(async () => {
      if (this.#busy) return;
      this.#busy = true;
      try {
        await this.check();
      } finally {
        this.#busy = false;
      }
    }, delayOf(intervalMs));
  }

  /** Stops polling. */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/** Whether two reads of a bundle hold the same file names with the same text. */
function sameFiles(a: Map<string, string>, b: Map<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [name, text] of a) if (b.get(name) !== text) return false;
  return true;
}
