/** `iatp sidecar`: not built yet. @module */
import { notBuilt } from "./not_built.ts";

/** The sidecar command. */
export const command = notBuilt("sidecar");
