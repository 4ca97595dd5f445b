/**
 * Dashboard login: `POST /login` exchanges a viewer credential holding `dashboard:view` for a
 * session cookie (HttpOnly, SameSite=Strict, Path=/, Secure over TLS); `POST /logout` ends it;
 * a gate in front of every other route lets through a session or a Bearer credential with
 * `dashboard:view`, and sends pages to `/login` and JSON or SSE requests a 401. What a viewer
 * then sees follows its `subscribe:` grants. With auth off (loopback, or `insecure`) everyone is
 * the open viewer. Login attempts are rate-limited per client address and overall.
 *
 * The start holds the mesh-auth settings, checked then (core/auth/mesh), and the session map;
 * the gate, the login routes and the credential verifier they build (login.ts, with core/auth)
 * load with the first request the app serves, before any route is served.
 * @module
 */
import { lateImport } from "../config/mod.ts";
import type { Context } from "hono";
import type { MeshAuthSettings } from "../auth/mesh/mod.ts";
import type { App, AppEnv } from "../http/mod.ts";
import type { Logger } from "../log/mod.ts";
import type { Viewer } from "./event.ts";
import { SessionStore } from "./session.ts";

/** The gate and login routes (login.ts), loaded with the app. */
type Login = typeof import("./login.ts");

/** Default login attempts per minute per client address. */
export const DEFAULT_LOGIN_RATE_PER_MIN = 20;

/** Options for {@linkcode createDashboardAuth}. */
export interface DashboardAuthOptions {
  /** The mesh-auth settings checked at start (`meshAuthSettings` of core/auth/mesh). */
  mesh: MeshAuthSettings;
  log: Logger;
  sessionTtlMs: number;
  maxSessions: number;
  /** Most live sessions of one viewer (credential subject). */
  maxViewerSessions?: number;
  loginRatePerMin: number;
}

/** Renders the login page (optional message, where to go after). */
export type LoginPageRenderer = (
  opts: { error?: string; next: string; fragmentLogin?: "auto" | "confirm" },
) => string;

/** The dashboard's gate and login routes. */
export interface DashboardAuth {
  readonly enabled: boolean;
  readonly sessions: SessionStore;
  /** The viewer of a request that passed the gate (sees nothing otherwise). */
  viewerOf(c: Context<AppEnv>): Viewer;
  /**
   * Registers the gate and `/login`, `/logout` on `app`, loading them and the credential
   * verifier now (login.ts, with Hono's cookie reader), the login page rendered by `loginPage`.
   * @throws {Error} when they cannot be loaded (the app is then not built: nothing is served
   * unchecked)
   */
  register(app: App, loginPage: LoginPageRenderer): Promise<void>;
}

const NOBODY: Viewer = { id: "nobody", maySee: () => false, sees: "[]", authenticated: true };

/** Builds the gate; with `mesh.enabled` false everyone is the open viewer. */
export function createDashboardAuth(o: DashboardAuthOptions): DashboardAuth {
  const sessions = new SessionStore(
    o.sessionTtlMs,
    o.maxSessions,
    Date.now,
    o.maxViewerSessions,
  );
  const viewers = new WeakMap<Request, Viewer>();
  return {
    get enabled() {
      return o.mesh.enabled;
    },
    sessions,
    viewerOf: (c) => viewers.get(c.req.raw) ?? NOBODY,
    async register(app, loginPage) {
      const { registerLogin } = await lateImport<Login>("./login.ts", import.meta.url);
      await registerLogin(app, {
        settings: o.mesh,
        log: o.log,
        sessions,
        viewers,
        loginRatePerMin: o.loginRatePerMin,
      }, loginPage);
    },
  };
}
