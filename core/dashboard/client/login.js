/**
 * The login page: a credential in the URL fragment (`#token=...`) is taken out of the address
 * bar at once, then posted (after a click, unless the server saw the viewer open the page
 * itself); the form posts a pasted one. Either way the server sets the session
 * cookie and the browser goes on to the page it came for.
 * @module
 */
import { byId, initMenu } from "./common.js";

initMenu();

const form = byId("login-form", HTMLFormElement);
const error = document.getElementById("login-error");

/**
 * Posts a credential as JSON; on success goes to the page asked for.
 * @param {string} credential
 */
async function login(credential) {
  const action = form?.getAttribute("action") ?? "/login";
  try {
    const res = await fetch(action, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ credential }),
      credentials: "same-origin",
    });
    /** @type {{ next?: string, error?: string }} */
    const body = await res.json().catch(() => ({}));
    if (res.ok) {
      location.replace(typeof body.next === "string" ? body.next : "/");
      return;
    }
    if (error) error.textContent = body.error ?? `login failed (${res.status})`;
  } catch (err) {
    if (error) error.textContent = `login failed: ${String(err)}`;
  }
}

/**
 * Whether a login link may log in without a click: the server says so only when the browser
 * told it the page was opened by the viewer (see login.ts); otherwise the viewer clicks first.
 */
const linkAuto = form?.dataset.fragmentLogin === "auto";
const linkPrompt = document.getElementById("link-login");
const linkButton = byId("link-login-button", HTMLButtonElement);
/** The credential of the last login link, held until the viewer confirms it. */
let linkToken = "";

linkButton?.addEventListener("click", () => {
  if (linkToken) void login(linkToken);
});

/** Takes a credential from the fragment, if there is one. */
function fromFragment() {
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  if (!token) return;
  // The credential leaves the address bar (and the history entry) before anything else happens.
  history.replaceState(null, "", location.pathname + location.search);
  if (linkAuto) {
    void login(token);
    return;
  }
  linkToken = token;
  if (linkPrompt) linkPrompt.hidden = false;
  linkButton?.focus();
}

fromFragment();
// A login link opened on this page already only changes the fragment: no reload.
globalThis.addEventListener("hashchange", fromFragment);
