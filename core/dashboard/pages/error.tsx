/**
 * The page a browser gets when a page it asked for cannot be shown (a mistyped transaction id,
 * an unknown path): what went wrong in words, with the way back, instead of the JSON error
 * envelope scripts get.
 * @module
 */
import { Layout } from "./layout.tsx";

/** Props of {@linkcode ErrorPage}: the answer's status and the error envelope's text. */
export interface ErrorPageProps {
  status: number;
  message: string;
  requestId?: string;
}

/** The error page. */
export function ErrorPage(props: ErrorPageProps) {
  const title = props.status === 404 ? "Not found" : `Error ${props.status}`;
  return (
    <Layout title={`${title} · iatp dashboard`} page="error">
      <section class="panel" aria-labelledby="error-h">
        <h1 id="error-h">{title}</h1>
        <p id="error-message" role="alert">{props.message}</p>
        {props.requestId
          ? <p class="muted small">Request id {props.requestId} (in the dashboard's log).</p>
          : ""}
        <p>
          <a href="/">Back to the overview</a> or <a href="/activity">search the events</a>.
        </p>
      </section>
    </Layout>
  );
}
