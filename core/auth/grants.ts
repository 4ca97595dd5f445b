/**
 * The mesh scope vocabulary, one for every service: what a credential (or a relay static token)
 * allows, and the check a route makes before it acts.
 *
 * | scope                  | allows                                              |
 * |------------------------|-----------------------------------------------------|
 * | `publish:<pattern>`    | relay `POST /publish` to topics the pattern covers  |
 * | `subscribe:<pattern>`  | relay `GET /subscribe`; dashboard views of topics   |
 * | `audit:append`         | audit `POST /audit`                                 |
 * | `policy:evaluate`      | policy `POST /evaluate`                             |
 * | `dashboard:view`       | dashboard login (what is shown follows `subscribe`) |
 * | `trace:read`           | sidecar `GET /trace/{id}`                           |
 * | `<service>:*`          | every scope of that service (`audit:*`)             |
 * | `*`                    | everything                                          |
 *
 * A topic pattern is a topic name, a name ending in `.*` (every topic below it) or `*`.
 *
 * @example
 * ```ts
 * const g = new Grants(["publish:sensor.*", "audit:append"]);
 * g.allows("publish:sensor.cpu.high"); // true
 * g.allows("subscribe:sensor.cpu.high"); // false
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
] as const;

/** Services whose scopes a `<service>:*` wildcard may cover. */
const SERVICES = new Set(["audit", "policy", "dashboard", "trace", "publish", "subscribe"]);

/** True when `scope` belongs to the mesh scope vocabulary. */
export function isMeshScope(scope: string): boolean {
  if (scope === "*") return true;
  if ((SIMPLE_SCOPES as readonly string[]).includes(scope)) return true;
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
    if (this.#exact.has(scope)) return true;
    const colon = scope.indexOf(":");
    return colon > 0 && this.#exact.has(`${scope.slice(0, colon)}:*`);
  }

  /** True when the holder may see events of `topic` (dashboard filtering, `GET /topics`). */
  maySee(topic: string): boolean {
    return this.allows(`subscribe:${topic}`);
  }

  #covers(granted: string[], wanted: string): boolean {
    return granted.some((g) => patternCovers(g, wanted));
  }
}
