// The token of a mailed link (`…/reset-password#token=…`). It travels in the fragment, so it never
// reaches the server's logs or another site's Referer header; the pages read it from here.

/** The `token` in the page's fragment, or "" when the link was cut short. */
export function linkToken(): string {
  return new URLSearchParams(location.hash.replace(/^#/, "")).get("token")?.trim() ?? "";
}
