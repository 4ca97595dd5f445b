/**
 * The dashboard's login gate and routes, loaded with the first request its app serves (auth.ts
 * registers them): the credential verifier built from the settings checked at start
 * (core/auth/mesh), the Bearer and session gate in front of every route but the public ones,
 * `POST /login` with its per-client and overall rate limits, and `POST /logout`. With the
 * verifier come core/auth's other modules (about 60 KB of source an idle dashboard no longer
 * holds).
 * @module
 */
import { lateImport } from "../config/mod.ts";
import type { Context, MiddlewareHandler } from "hono";
import {
  createMeshAuth,
  decodeClaims,
  looksLikeCredential,
  type MeshAuth,
  type MeshAuthSettings,
  type Principal,
  RateLimiter,
  requireGrant,
  type RevokedIds,
} from "../auth/mod.ts";
import { HttpError } from "../errors/mod.ts";
import type { App, AppEnv } from "../http/mod.ts";
import type { Logger } from "../log/mod.ts";
import type { LoginPageRenderer } from "./auth.ts";
import { OPEN_VIEWER, type Viewer } from "./event.ts";
import { type Session, SESSION_COOKIE, type SessionStore } from "./session.ts";

/** Hono's cookie reader (cookie.ts), loaded with the router. */
type Cookies = typeof import("./cookie.ts");

/** The scope a login needs. */
const VIEW_SCOPE = "dashboard:view";
/** Routes served without a login: the login itself, probes, static assets. */
const PUBLIC_PATHS = /^\/(login|logout|health|ready|metrics|favicon\.ico|static\/.*)$/;
/** Longest credential accepted by `POST /login`. */
const MAX_LOGIN_CREDENTIAL_CHARS = 8192;

function viewerFrom(p: Pick<Principal, "id" | "grants">, valid: () => boolean): Viewer {
  // What a viewer may see follows from these scopes alone (Grants.maySee).
  const seeing = p.grants.scopes.filter((s) => s === "*" || s.startsWith("subscribe:"));
  const seesNoTopic = seeing.length === 0;
  return {
    id: p.id,
    maySee: (t) => p.grants.maySee(t),
    sees: JSON.stringify([...new Set(seeing)].sort()),
    authenticated: true,
    valid,
    ...(seesNoTopic ? { seesNoTopic } : {}),
  };
}

/** A path on this site to return to after login; anything else becomes `/`. */
function safeNext(next: string | undefined): string {
  // Visible ASCII only: a control character (a NUL) cannot go into the Location header.
  return next && /^\/(?![/\\])[\x21-\x7e]{0,512}$/.test(next) && !next.startsWith("/login")
    ? next
    : "/";
}

function wantsPage(c: Context<AppEnv>): boolean {
  const accept = c.req.header("accept") ?? "";
  return c.req.method === "GET" && accept.includes("text/html") &&
    !c.req.path.startsWith("/api/") && c.req.path !== "/events" && c.req.query("format") !== "json";
}

function overTls(c: Context<AppEnv>): boolean {
  return new URL(c.req.url).protocol === "https:" ||
    (c.req.header("x-forwarded-proto") ?? "").toLowerCase() === "https";
}

function clientAddress(c: Context<AppEnv>): string {
  const addr: unknown = c.env && typeof c.env === "object" ? Reflect.get(c.env, "remoteAddr") : 0;
  const host = addr && typeof addr === "object" ? Reflect.get(addr, "hostname") : undefined;
  return typeof host === "string" ? host : "unknown";
}

/**
 * True unless a browser says the request came from another site: `Sec-Fetch-Site` when sent
 * (same-origin, or none for a typed URL), else `Origin`, which must name this host. Browsers
 * send no `Sec-Fetch-Site` to a plain-HTTP host name, and a page of any site can make its posts
 * carry `Origin: null` (a no-referrer policy, a sandboxed frame), so `null` is refused: the
 * dashboard's own pages are served with a same-origin referrer policy, under which the browser
 * names their origin. Clients that are not browsers send neither header and are let through:
 * cross-site forgery needs a browser.
 */
function sameOrigin(c: Context<AppEnv>): boolean {
  const site = c.req.header("sec-fetch-site");
  if (site !== undefined) return site === "same-origin" || site === "none";
  const origin = c.req.header("origin");
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === (c.req.header("host") ?? new URL(c.req.url).host);
  } catch {
    return false;
  }
}

/**
 * Whether a login link (`/login#token=...`) may log in without a click: only when the browser
 * says the login page was opened by the viewer (a typed or pasted address, a bookmark, a link
 * from a terminal: `Sec-Fetch-Site: none`) or from the dashboard itself. Opened from another
 * site, or by a browser that does not say (it sends no `Sec-Fetch-Site` to a plain-HTTP host
 * name), the page asks for a click first: any page can send a browser to a login link holding
 * its own credential, and would otherwise swap the viewer's session for one it chose.
 */
function linkLogin(c: Context<AppEnv>): "auto" | "confirm" {
  const site = c.req.header("sec-fetch-site");
  return site === "none" || site === "same-origin" ? "auto" : "confirm";
}

function cookie(c: Context<AppEnv>, value: string, maxAgeSecs: number): string {
  return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSecs}` +
    (overTls(c) ? "; Secure" : "");
}

/**
 * The refusal of a login body that is neither the JSON nor the form its Content-Type names. A
 * body the edge could not read (over `max_body_bytes`, past `body_timeout`, its chunked framing
 * broken or cut short) keeps the edge's own refusal: 413, 408 or 400 naming what went wrong.
 */
function unreadableLogin(cause: unknown): HttpError {
  if (cause instanceof HttpError) return cause;
  return new HttpError(400, 'send {"credential": "..."} as JSON or a form', {}, { cause });
}

/** True when a login post is the page's HTML form (answered with the page, not JSON). */
function isFormPost(c: Context<AppEnv>): boolean {
  const type = c.req.header("content-type") ?? "";
  return type.startsWith("application/x-www-form-urlencoded") || type.startsWith("multipart/");
}

async function readCredential(c: Context<AppEnv>): Promise<{ credential: string; form: boolean }> {
  if (isFormPost(c)) {
    let body: Awaited<ReturnType<typeof c.req.parseBody>>;
    try {
      // A multipart body that is not one (no boundary, parts cut short) throws a TypeError.
      body = await c.req.parseBody();
    } catch (err) {
      throw unreadableLogin(err);
    }
    const v = body.credential;
    return { credential: typeof v === "string" ? v.trim() : "", form: true };
  }
  let body: unknown;
  try {
    body = await c.req.json();
  } catch (err) {
    throw unreadableLogin(err);
  }
  const v = body && typeof body === "object" ? Reflect.get(body, "credential") : undefined;
  return { credential: typeof v === "string" ? v.trim() : "", form: false };
}

interface AuthState {
  o: { mesh: MeshAuth; log: Logger };
  sessions: SessionStore;
  perClient: RateLimiter;
  overall: RateLimiter;
  viewers: WeakMap<Request, Viewer>;
  /** The revoked credential ids (files re-read when they change). */
  revoked: RevokedIds;
}

/**
 * The live session of `id`: a session whose credential has since been revoked is ended here,
 * as an expired one is by the store.
 */
function liveSession(st: AuthState, id: string | undefined): Session | undefined {
  const s = st.sessions.get(id);
  if (s?.jti !== undefined && st.revoked.has(s.jti)) {
    st.sessions.delete(s.id);
    st.o.log.info("session ended: credential revoked", { sub: s.sub });
    return undefined;
  }
  return s;
}

/** The viewer of a Bearer request, which must hold `dashboard:view`. */
async function bearerViewer(st: AuthState, c: Context<AppEnv>): Promise<Viewer | undefined> {
  let principal: Principal | undefined;
  try {
    principal = await st.o.mesh.authenticate(c.req.raw);
  } catch (err) {
    if (err instanceof HttpError && err.status === 401) {
      c.header("WWW-Authenticate", 'Bearer realm="iatp"');
    }
    throw err;
  }
  requireGrant(principal, VIEW_SCOPE);
  if (!principal) return undefined;
  // A stream opened with it lasts only while the credential would still be accepted.
  const m = /^Bearer[ \t]+(\S+)/i.exec(c.req.header("authorization") ?? "");
  const exp = m && looksLikeCredential(m[1]) ? decodeClaims(m[1]).exp : undefined;
  const jti = principal.jti;
  return viewerFrom(principal, () =>
    (exp === undefined || Date.now() < exp * 1000) &&
    (jti === undefined || !st.revoked.has(jti)));
}

/** The session cookie's value of a request. */
type SessionOf = (c: Context<AppEnv>) => string | undefined;

function gateFor(st: AuthState, sessionOf: SessionOf): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (PUBLIC_PATHS.test(c.req.path)) return await next();
    let viewer: Viewer | undefined = st.o.mesh.enabled ? undefined : OPEN_VIEWER;
    if (!viewer && c.req.header("authorization") !== undefined) {
      viewer = await bearerViewer(st, c);
    }
    if (!viewer) {
      // A due re-read of a revocation file is waited for, off this thread: a session made from
      // a credential revoked since ends at its next request.
      const checking = st.revoked.checked?.();
      if (checking) await checking;
      const s = liveSession(st, sessionOf(c));
      if (s) viewer = viewerFrom({ id: s.sub, grants: s.grants }, () => !!liveSession(st, s.id));
    }
    if (viewer) {
      st.viewers.set(c.req.raw, viewer);
      return await next();
    }
    if (wantsPage(c)) {
      const back = c.req.path + (new URL(c.req.url).search || "");
      return c.redirect(`/login?next=${encodeURIComponent(back)}`, 303);
    }
    throw new HttpError(401, "login required: POST /login, or send Authorization: Bearer", {
      login: "/login",
    });
  };
}

/**
 * Takes one login attempt from the client's and the overall budget.
 * @throws {HttpError} 429 with Retry-After when either is spent.
 */
function takeAttempt(st: AuthState, c: Context<AppEnv>): void {
  for (const [limiter, key] of [[st.perClient, clientAddress(c)], [st.overall, "*"]] as const) {
    const r = limiter.take(key);
    if (!r.allowed) {
      c.header("Retry-After", String(r.retryAfterSecs));
      throw new HttpError(429, `too many login attempts; try again in ${r.retryAfterSecs} s`, {
        retry_after_secs: r.retryAfterSecs,
      });
    }
  }
}

/** The characters a credential is made of (visible ASCII). */
const CREDENTIAL_CHARS = /^[\x21-\x7e]+$/;

/** The principal of a login credential, or why it is refused. */
async function principalOfLogin(
  st: AuthState,
  credential: string,
): Promise<Principal | { status: 401 | 403; message: string }> {
  const refused = { status: 401 as const, message: "the credential was not accepted" };
  if (credential === "" || credential.length > MAX_LOGIN_CREDENTIAL_CHARS) return refused;
  // A credential is visible ASCII: anything else (a NUL, CR/LF, a space) is refused here, before
  // it goes into a header, whose refusal would be an internal error quoting the value.
  if (!CREDENTIAL_CHARS.test(credential)) {
    st.o.log.info("login refused", { reason: "invalid credential" });
    return refused;
  }
  let principal: Principal | undefined;
  try {
    principal = await st.o.mesh.authenticate(
      new Request("http://login/", { headers: { authorization: `Bearer ${credential}` } }),
    );
  } catch (err) {
    if (!(err instanceof HttpError) || err.status !== 401) throw err;
    st.o.log.info("login refused", { reason: "invalid credential" });
    return refused;
  }
  if (!principal || !principal.grants.allows(VIEW_SCOPE)) {
    st.o.log.info("login refused", { sub: principal?.id, reason: `no ${VIEW_SCOPE}` });
    return { status: 403, message: `credential lacks scope ${VIEW_SCOPE}` };
  }
  return principal;
}

function loginHandler(st: AuthState, loginPage: LoginPageRenderer) {
  return async (c: Context<AppEnv>) => {
    if (!sameOrigin(c)) throw new HttpError(403, "cross-origin login refused");
    const next = safeNext(c.req.query("next"));
    try {
      takeAttempt(st, c);
    } catch (err) {
      // The form gets its page back, saying when to try again (Retry-After is set), not JSON.
      if (!(err instanceof HttpError) || !isFormPost(c)) throw err;
      return c.html(loginPage({ error: err.message, next, fragmentLogin: linkLogin(c) }), 429);
    }
    const { credential, form } = await readCredential(c);
    const refuse = (status: 400 | 401 | 403, message: string) => {
      if (form) {
        return c.html(loginPage({ error: message, next, fragmentLogin: linkLogin(c) }), status);
      }
      throw new HttpError(status, message, status === 403 ? { required: VIEW_SCOPE } : {});
    };
    if (!st.o.mesh.enabled) return refuse(400, "this dashboard runs without login");
    const p = await principalOfLogin(st, credential);
    if ("status" in p) return refuse(p.status, p.message);
    const exp = looksLikeCredential(credential) ? decodeClaims(credential).exp : undefined;
    const s = st.sessions.create(p.id, p.grants, exp ? exp * 1000 : undefined, p.jti);
    const maxAge = Math.max(1, Math.floor((s.expires - Date.now()) / 1000));
    c.header("Set-Cookie", cookie(c, s.id, maxAge));
    c.header("Cache-Control", "no-store");
    st.o.log.info("login", { sub: p.id });
    if (form) return c.redirect(next, 303);
    return c.json({ sub: p.id, expires: new Date(s.expires).toISOString(), next });
  };
}

function logoutHandler(st: AuthState, sessionOf: SessionOf) {
  return async (c: Context<AppEnv>) => {
    if (!sameOrigin(c)) throw new HttpError(403, "cross-origin logout refused");
    st.sessions.delete(sessionOf(c));
    c.header("Set-Cookie", cookie(c, "", 0));
    const type = c.req.header("content-type") ?? "";
    if (type.startsWith("application/x-www-form-urlencoded")) await c.req.parseBody();
    return (c.req.header("accept") ?? "").includes("text/html")
      ? c.redirect("/login", 303)
      : c.json({ logged_out: true });
  };
}

/** What {@linkcode registerLogin} needs from the dashboard's start. */
export interface LoginDeps {
  /** The mesh-auth settings checked at start; the verifier is built from them here. */
  settings: MeshAuthSettings;
  log: Logger;
  sessions: SessionStore;
  /** Where the gate records the viewer of each request it let through. */
  viewers: WeakMap<Request, Viewer>;
  loginRatePerMin: number;
}

/**
 * Builds the verifier and registers the gate, `/login` and `/logout` on `app` (with Hono's cookie
 * reader, imported now); the login page is rendered by `loginPage`.
 */
export async function registerLogin(
  app: App,
  d: LoginDeps,
  loginPage: LoginPageRenderer,
): Promise<void> {
  const mesh = createMeshAuth(d.settings);
  const st: AuthState = {
    o: { mesh, log: d.log },
    sessions: d.sessions,
    perClient: new RateLimiter(d.loginRatePerMin),
    overall: new RateLimiter(d.loginRatePerMin * 10, 1),
    viewers: d.viewers,
    revoked: d.settings.revoked,
  };
  const { getCookie } = await lateImport<Cookies>("./cookie.ts", import.meta.url);
  const sessionOf: SessionOf = (c) => getCookie(c, SESSION_COOKIE);
  app.use("*", gateFor(st, sessionOf));
  app.get("/login", (c) => {
    if (!mesh.enabled) return c.redirect("/", 303);
    c.header("Cache-Control", "no-store");
    return c.html(loginPage({ next: safeNext(c.req.query("next")), fragmentLogin: linkLogin(c) }));
  });
  app.post("/login", loginHandler(st, loginPage));
  app.post("/logout", logoutHandler(st, sessionOf));
}
