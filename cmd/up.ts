/** `iatp up`: not built yet. @module */
import { notBuilt } from "./not_built.ts";

/** The up command. */
export const command = notBuilt("up");
