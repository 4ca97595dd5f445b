/**
 * Bearer-token scopes for the relay: `publish:<pattern>` and `subscribe:<pattern>`, where the
 * pattern is a topic name, `prefix.*` or `*`. Tokens are held as SHA-256 digests so a lookup
 * does not compare secrets byte by byte. No tokens configured means the relay is open.
 * @module
 */
import { createHash } from "node:crypto";
import { HttpError } from "../errors/mod.ts";
import { isTopicPattern, patternCovers } from "./topic.ts";

/** What a token may do. */
export type ScopeAction = "publish" | "subscribe";

/** Parsed scopes of one token. */
export interface Grants {
  /** The caller's principal id: `token:<first 8 hex of the token's SHA-256>`, as mesh auth names it. */
  id: string;
  publish: string[];
  subscribe: string[];
}

const SCOPE = /^(publish|subscribe):(.+)$/;

/** Parses one scope string; undefined when malformed. */
export function parseScope(scope: string): { action: ScopeAction; pattern: string } | undefined {
  const m = SCOPE.exec(scope.trim());
  if (!m || !isTopicPattern(m[2])) return undefined;
  return { action: m[1] as ScopeAction, pattern: m[2] };
}

function digest(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** Checks bearer tokens against their scopes. */
export class RelayAuth {
  readonly #grants = new Map<string, Grants>();

  /** `tokens` maps each token to its scope strings (already validated by the config). */
  constructor(tokens: Record<string, string[]>) {
    for (const [token, scopes] of Object.entries(tokens)) {
      const d = digest(token);
      const g: Grants = { id: `token:${d.slice(0, 8)}`, publish: [], subscribe: [] };
      for (const s of scopes) {
        const p = parseScope(s);
        if (p) g[p.action].push(p.pattern);
      }
      this.#grants.set(d, g);
    }
  }

  /** True when tokens are configured (otherwise every request is allowed). */
  get enabled(): boolean {
    return this.#grants.size > 0;
  }

  /** The caller's grants from an `Authorization` header; throws 401 when auth is on and it fails. */
  identify(authorization: string | undefined): Grants | undefined {
    if (!this.enabled) return undefined;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
    if (!m) {
      throw new HttpError(401, "missing bearer token", {
        hint: "send Authorization: Bearer <token>",
      });
    }
    const g = this.#grants.get(digest(m[1]));
    if (!g) throw new HttpError(401, "unknown bearer token");
    return g;
  }

  /** Throws 403 unless `grants` (undefined = auth off) cover every pattern for `action`. */
  require(grants: Grants | undefined, action: ScopeAction, patterns: string[]): void {
    if (!grants) return;
    const denied = patterns.filter((p) => !grants[action].some((g) => patternCovers(g, p)));
    if (denied.length > 0) {
      throw new HttpError(403, `token lacks scope ${action}:${denied[0]}`, {
        required: denied.map((p) => `${action}:${p}`),
      });
    }
  }

  /** True when `grants` may subscribe to `topic` (for filtering `GET /topics`). */
  maySee(grants: Grants | undefined, topic: string): boolean {
    return !grants || grants.subscribe.some((g) => patternCovers(g, topic));
  }
}
