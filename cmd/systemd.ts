/** `iatp systemd`: not built yet. @module */
import { notBuilt } from "./not_built.ts";

/** The systemd command. */
export const command = notBuilt("systemd");
