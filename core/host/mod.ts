/** Host metrics from /proc and statfs, and threshold alerts over them. @module */
export * from "./proc.ts";
export * from "./metrics.ts";
export * from "./alerts.ts";
