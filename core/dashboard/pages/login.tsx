/**
 * `GET /login`: a form that posts a viewer credential. login.js also reads a credential from
 * the URL fragment (`/login#token=...`, as `iatp up` prints it), clears the fragment at once and
 * posts it, so the credential never reaches a server log or the history.
 * @module
 */
import { Layout } from "./layout.tsx";

/** The login page; `error` is shown above the form. */
export function LoginPage(
  props: { error?: string; next: string; fragmentLogin?: "auto" | "confirm" },
) {
  return (
    <Layout title="Log in · iatp dashboard" page="login" scripts={["login.js"]}>
      <section class="panel login" aria-labelledby="login-h">
        <h1 id="login-h">Log in to the dashboard</h1>
        <p>
          Paste a viewer credential: one holding the <code>dashboard:view</code>{" "}
          scope. You will see the topics its <code>subscribe:</code> scopes cover.
        </p>
        <p id="login-error" class="failed" role="alert">{props.error ?? ""}</p>
        <p id="link-login" hidden>
          This page was opened with a login link. Log in with its credential only if you opened it
          yourself: another site can send you to a link holding its own credential.{" "}
          <button id="link-login-button" type="button">Log in with the link's credential</button>
        </p>
        <form
          id="login-form"
          data-fragment-login={props.fragmentLogin ?? "confirm"}
          method="post"
          action={`/login?next=${encodeURIComponent(props.next)}`}
        >
          <label for="credential">Credential</label>
          <input
            id="credential"
            name="credential"
            type="password"
            autocomplete="off"
            spellcheck={false}
            required
            maxlength={8192}
          />
          <button type="submit">Log in</button>
        </form>
        <p class="muted small">
          <code>iatp up</code>{" "}
          prints a login link holding a viewer credential; opening it logs you in.
        </p>
      </section>
    </Layout>
  );
}
