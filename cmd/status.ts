/** `iatp status`: not built yet. @module */
import { notBuilt } from "./not_built.ts";

/** The status command. */
export const command = notBuilt("status");
