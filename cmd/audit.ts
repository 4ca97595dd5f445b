/** `iatp audit`: not built yet. @module */
import { notBuilt } from "./not_built.ts";

/** The audit command. */
export const command = notBuilt("audit");
