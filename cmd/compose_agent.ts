/** `iatp compose-agent`: not built yet. @module */
import { notBuilt } from "./not_built.ts";

/** The compose-agent command. */
export const command = notBuilt("compose-agent");
