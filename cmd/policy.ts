/** `iatp policy`: not built yet. @module */
import { notBuilt } from "./not_built.ts";

/** The policy command. */
export const command = notBuilt("policy");
