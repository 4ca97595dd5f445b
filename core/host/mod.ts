/** Host metrics from /proc and statfs, and threshold alerts over them. @module */
export {
  AlertEvaluator,
  type AlertEvent,
  type AlertLevel,
  type AlertThresholds,
  type Threshold,
} from "./alerts.ts";
export { HostSampler, type HostSnapshot } from "./metrics.ts";
