/** `iatp plugin-host`: not built yet. @module */
import { notBuilt } from "./not_built.ts";

/** The plugin-host command. */
export const command = notBuilt("plugin-host");
