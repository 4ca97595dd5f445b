/** `iatp plugin`: not built yet. @module */
import { notBuilt } from "./not_built.ts";

/** The plugin command. */
export const command = notBuilt("plugin");
