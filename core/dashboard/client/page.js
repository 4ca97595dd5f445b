/**
 * The script of pages that need nothing but the shared behaviour (the transaction page): the
 * collapsing sidebar.
 * @module
 */
import { initMenu } from "./common.js";

initMenu();
