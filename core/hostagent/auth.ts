/**
 * core/auth for the host agents' requests (the signed fetch, the verifier's caller and scope
 * checks), loaded with its first use: the compose agent's start reads only core/auth/agent (its
 * key, signing mode and defaults), and its command API loads the rest with its routes.
 * @module
 */
import { onceUntilFailure } from "../async/mod.ts";
import { lateImport } from "../config/mod.ts";

/** The module, imported by a computed specifier (core/config's `lateImport`). */
type Auth = typeof import("../auth/mod.ts");

/** What `/health` names when core/auth could not be loaded. */
export const SIGNING_UNAVAILABLE = "the request signing could not be loaded";

/** The last load's failure (undefined once a load worked). */
let failure: unknown;

/** core/auth; a failed load is the failure of the call that needed it, and the next one retries. */
export const loadAuth: () => Promise<Auth> = onceUntilFailure(() =>
  lateImport<Auth>("../auth/mod.ts", import.meta.url).then((m) => {
    failure = undefined;
    return m;
  }, (err) => {
    failure = err;
    throw err;
  })
);

/**
 * True while core/auth could not be loaded: nothing can be signed or verified (Deno keeps a
 * failed import for the life of the process, so until a restart). An agent's `/health` says so.
 */
export function authUnavailable(): boolean {
  return failure !== undefined;
}
