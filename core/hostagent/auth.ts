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

/** core/auth; a failed load is the failure of the call that needed it, and the next one retries. */
export const loadAuth: () => Promise<Auth> = onceUntilFailure(() =>
  lateImport<Auth>("../auth/mod.ts", import.meta.url)
);
