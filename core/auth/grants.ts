/**
 * The mesh scope vocabulary, one for every service: what a credential (or a relay static token)
 * allows, and the check a route makes before it acts.
 *
 * | scope                  | allows                                              |
 * |------------------------|-----------------------------------------------------|
 * | `publish:<pattern>`    | relay `POST /publish` to topics the pattern covers  |
 * | `subscribe:<pattern>`  | relay `GET /subscribe`; dashboard views of topics   |
 * | `audit:append`         | audit `POST /audit`, under any actor                |
 * | `audit:append:<actor>` | audit `POST /audit` of entries whose actor it covers |
 * | `policy:evaluate`      | policy `POST /evaluate`                             |
 * | `dashboard:view`       | dashboard login (what is shown follows `subscribe`) |
 * | `trace:read`           | sidecar `GET /trace/{id}`                           |
 * | `status:read`          | status agent metrics and capabilities reads         |
 * | `<service>:*`          | every scope of that service (`audit:*`)             |
 * | `*`                    | everything                                          |
 *
 * A topic pattern is a topic name, a name ending in `.*` (every topic below it) or `*`. An actor
 * pattern is an actor name (1 to 128 printable characters, no spaces) or a prefix ending in `*`
 * (`sensor:*`): a credential holding only `audit:append:policy` cannot append as anyone else.
 *
 * @example
 * ```ts
 * const g = new Grants(["publish:sensor.*", "audit:append"]);
 * g.allows("publish:sensor.cpu.high"); // true
 * g.allows("subscribe:sensor.cpu.high"); // false
 * g.mayAppendAs("sensor:cpu"); // true (`audit:append` covers every actor)
 * ```
 * @module
 */
import { isTopicPattern, patternCovers } from "../topic/mod.ts";

/** Scopes that take no object. */
const SIMPLE_SCOPES = [
  "audit:append",
  "policy:evaluate",
  "dashboard:view",
  "trace:read",
  "status:read",
] as const;

/** Prefix of an actor-bound append scope. */
const APPEND_AS = "audit:append:";
/** Longest actor pattern in an `audit:append:<actor>` scope. */
const MAX_ACTOR_PATTERN_CHARS = 128;

/** True for an actor name or an actor prefix ending in `*` (printable, no spaces). */
function isActorPattern(p: string): boolean {
  if (p.length === 0 || p.length > MAX_ACTOR_PATTERN_CHARS) return false;
  if (!/^[\x21-\x7e]+$/.test(p)) return false;
  const star = p.indexOf("*");
  return star < 0 || star === p.length - 1;
}

/** True when actor pattern `p` covers `actor`. */
function actorCovers(p: string, actor: string): boolean {
  return p.endsWith("*") ? actor.startsWith(p.slice(0, -1)) : p === actor;
}

/** Services whose scopes a `<service>:*` wildcard may cover. */
const SERVICES = new Set([
  "audit",
  "policy",
  "dashboard",
  "trace",
  "status",
  "publish",
  "subscribe",
]);

/** True when `scope` belongs to the mesh scope vocabulary. */
export function isMeshScope(scope: string): boolean {
  if (scope === "*") return true;
  if ((SIMPLE_SCOPES as readonly string[]).includes(scope)) return true;
  if (scope.startsWith(APPEND_AS)) return isActorPattern(scope.slice(APPEND_AS.length));
  const colon = scope.indexOf(":");
  if (colon < 0) return false;
  const verb = scope.slice(0, colon);
  const object = scope.slice(colon + 1);
  if (verb === "publish" || verb === "subscribe") return isTopicPattern(object);
  return object === "*" && SERVICES.has(verb);
}

/** A parsed set of granted scopes. */
export class Grants {
  readonly scopes: readonly string[];
  readonly #exact = new Set<string>();
  readonly #publish: string[] = [];
  readonly #subscribe: string[] = [];
  readonly #appendAs: string[] = [];
  #all = false;

  /** Unknown scope strings grant nothing (they are refused when a credential is issued). */
  constructor(scopes: Iterable<string>) {
    this.scopes = [...scopes];
    for (const s of this.scopes) {
      if (s === "*") this.#all = true;
      else if (s.startsWith("publish:") && isTopicPattern(s.slice(8))) {
        this.#publish.push(s.slice(8));
      } else if (s.startsWith("subscribe:") && isTopicPattern(s.slice(10))) {
        this.#subscribe.push(s.slice(10));
      } else if (s.startsWith(APPEND_AS) && isActorPattern(s.slice(APPEND_AS.length))) {
        this.#appendAs.push(s.slice(APPEND_AS.length));
      } else if (isMeshScope(s)) this.#exact.add(s);
    }
  }

  /**
   * True when `scope` is granted: `publish:<topic or pattern>` and `subscribe:<...>` when a
   * granted pattern covers it, others exactly or through `<service>:*` or `*`.
   */
  allows(scope: string): boolean {
    if (this.#all) return true;
    if (scope.startsWith("publish:")) return this.#covers(this.#publish, scope.slice(8));
    if (scope.startsWith("subscribe:")) return this.#covers(this.#subscribe, scope.slice(10));
    if (scope === "audit:append" && this.#appendAs.length > 0) return true;
    if (this.#exact.has(scope)) return true;
    const colon = scope.indexOf(":");
    return colon > 0 && this.#exact.has(`${scope.slice(0, colon)}:*`);
  }

  /**
   * True when the holder may append audit entries under `actor`: `audit:append` (or `audit:*`,
   * `*`) covers every actor, `audit:append:<pattern>` the actors its pattern covers.
   */
  mayAppendAs(actor: string): boolean {
    if (this.#all || this.#exact.has("audit:append") || this.#exact.has("audit:*")) return true;
    return this.#appendAs.some((p) => actorCovers(p, actor));
  }

  /** True when the holder may see events of `topic` (dashboard filtering, `GET /topics`). */
  maySee(topic: string): boolean {
    return this.allows(`subscribe:${topic}`);
  }

  #covers(granted: string[], wanted: string): boolean {
    return granted.some((g) => patternCovers(g, wanted));
  }
}
