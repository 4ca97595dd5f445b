/** `iatp sensor`: not built yet. @module */
import { notBuilt } from "./not_built.ts";

/** The sensor command. */
export const command = notBuilt("sensor");
