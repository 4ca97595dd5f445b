/** `iatp action`: not built yet. @module */
import { notBuilt } from "./not_built.ts";

/** The action command. */
export const command = notBuilt("action");
