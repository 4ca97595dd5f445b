/**
 * {@linkcode readExactJson} with its parser (exact_json.ts, about 12 KB of source) loaded with
 * the first body it reads: only the routes that store or sign what they receive use it (the
 * audit's appends, the policy's decisions), and an idle service need not hold it.
 * @module
 */
import { lateImport } from "../config/mod.ts";
import { HttpError } from "../errors/mod.ts";
import type { ExactJsonOptions } from "./exact_json.ts";

type ExactJson = typeof import("./exact_json.ts");

let loaded: ExactJson | undefined;

/**
 * Reads a request body in full and parses it exactly (exact_json.ts's `readExactJson`: 400
 * naming the field for anything refused), loading the parser with the first call.
 * @throws {HttpError} 400 with `{ field }` as exact_json.ts's; 503 when the parser cannot be
 * loaded (the body is then not read)
 */
export async function readExactJson(req: Request, opts: ExactJsonOptions = {}): Promise<unknown> {
  if (!loaded) {
    try {
      loaded = await lateImport<ExactJson>("./exact_json.ts", import.meta.url);
    } catch (err) {
      throw new HttpError(503, "the request body parser could not be loaded", {}, { cause: err });
    }
  }
  return await loaded.readExactJson(req, opts);
}
