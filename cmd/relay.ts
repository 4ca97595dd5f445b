/** `iatp relay`: not built yet. @module */
import { notBuilt } from "./not_built.ts";

/** The relay command. */
export const command = notBuilt("relay");
