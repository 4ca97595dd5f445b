/**
 * Scopes granted to an authenticated caller. Default deny: an empty or unset scope list grants
 * nothing (upstream granted everything when AGENT_SCOPES was unset).
 * @module
 */

/** An immutable set of granted scopes with `prefix:*` wildcards. */
export class Scopes {
  #exact = new Set<string>();
  #prefixes: string[] = [];

  /** @param granted scope names; `docker:*` grants every `docker:` scope, `*` grants all. */
  constructor(granted: Iterable<string>) {
    for (const raw of granted) {
      const s = raw.trim();
      if (s === "") continue;
      if (s === "*") this.#prefixes.push("");
      else if (s.endsWith(":*")) this.#prefixes.push(s.slice(0, -1));
      else this.#exact.add(s);
    }
  }

  /** Parses a comma list such as AGENT_SCOPES. */
  static parse(text: string | undefined): Scopes {
    return new Scopes((text ?? "").split(","));
  }

  /** True only when `scope` was granted explicitly or by a wildcard. */
  allows(scope: string): boolean {
    if (this.#exact.has(scope)) return true;
    return this.#prefixes.some((p) => scope.startsWith(p));
  }

  /** True when nothing at all is granted. */
  get empty(): boolean {
    return this.#exact.size === 0 && this.#prefixes.length === 0;
  }
}
