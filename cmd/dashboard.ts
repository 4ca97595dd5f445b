/** `iatp dashboard`: not built yet. @module */
import { notBuilt } from "./not_built.ts";

/** The dashboard command. */
export const command = notBuilt("dashboard");
