/**
 * Dashboard login sessions: a bounded server-side map from a random session id (the cookie) to
 * the viewer's identity and grants. Server-side rather than a signed stateless cookie so that
 * logging out really ends a session, and a restart ends them all (the map lives in memory).
 * A session never outlives the credential it was made from.
 * @module
 */
import { encodeHex } from "../encoding/mod.ts";
import type { Grants } from "../auth/mod.ts";

/** Name of the session cookie. */
export const SESSION_COOKIE = "iatp_session";
/** Default session lifetime (shorter when the credential expires sooner). */
export const DEFAULT_SESSION_TTL_MS = 8 * 3_600_000;
/** Default bound on live sessions; the one closest to expiry is dropped beyond it. */
export const DEFAULT_MAX_SESSIONS = 10_000;
/**
 * Default bound on one viewer's (credential subject's) live sessions: beyond it that viewer's
 * own session closest to expiry is dropped, so logging in again and again cannot push the
 * other viewers' sessions out.
 */
export const DEFAULT_MAX_VIEWER_SESSIONS = 20;

/** One logged-in viewer. */
export interface Session {
  id: string;
  sub: string;
  grants: Grants;
  /** Unix milliseconds. */
  expires: number;
  /** The id of the credential it was made from (checked against revocation at each use). */
  jti?: string;
}

/** The session map; see the module doc. */
export class SessionStore {
  readonly #sessions = new Map<string, Session>();

  constructor(
    readonly ttlMs = DEFAULT_SESSION_TTL_MS,
    readonly max = DEFAULT_MAX_SESSIONS,
    private readonly now: () => number = Date.now,
    readonly maxPerViewer = DEFAULT_MAX_VIEWER_SESSIONS,
  ) {}

  /** Live sessions. */
  get size(): number {
    return this.#sessions.size;
  }

  /**
   * Creates a session for `sub` lasting the configured lifetime, or until `notAfterMs` (the
   * credential's expiry) when that is sooner; `jti` is that credential's id.
   */
  create(sub: string, grants: Grants, notAfterMs?: number, jti?: string): Session {
    const now = this.now();
    this.#sweep(now);
    let own = 0;
    let ownFirst: Session | undefined;
    for (const s of this.#sessions.values()) {
      if (s.sub !== sub) continue;
      own++;
      if (!ownFirst || s.expires < ownFirst.expires) ownFirst = s;
    }
    if (ownFirst && own >= this.maxPerViewer) this.#sessions.delete(ownFirst.id);
    if (this.#sessions.size >= this.max) {
      let first: Session | undefined;
      for (const s of this.#sessions.values()) if (!first || s.expires < first.expires) first = s;
      if (first) this.#sessions.delete(first.id);
    }
    const id = encodeHex(crypto.getRandomValues(new Uint8Array(32)));
    const expires = Math.min(now + this.ttlMs, notAfterMs ?? Infinity);
    const s: Session = { id, sub, grants, expires, ...(jti ? { jti } : {}) };
    this.#sessions.set(id, s);
    return s;
  }

  /** The live session of `id`, if any (an expired one is dropped). */
  get(id: string | undefined): Session | undefined {
    if (!id) return undefined;
    const s = this.#sessions.get(id);
    if (s && s.expires <= this.now()) {
      this.#sessions.delete(id);
      return undefined;
    }
    return s;
  }

  /** Ends a session. */
  delete(id: string | undefined): void {
    if (id) this.#sessions.delete(id);
  }

  #sweep(now: number): void {
    // Cheap amortised cleanup: at most 64 entries looked at per new session.
    let n = 0;
    for (const [id, s] of this.#sessions) {
      if (++n > 64) break;
      if (s.expires <= now) this.#sessions.delete(id);
    }
  }
}
