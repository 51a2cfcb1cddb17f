// Package webui serves the officer console (/console/) and the citizen
// page (/me/) from files embedded in the binary: plain HTML, CSS and
// JavaScript, nothing fetched from anywhere else. Every page is served
// with a strict Content-Security-Policy (scripts, styles and requests to
// this origin only; no inline script, no framing, no form posts
// elsewhere), no-store caching and no referrer. / redirects to /console/.
//
// Both pages call the exchange's JSON API from the browser:
//
//   - The console signs an officer in without a private key in the
//     browser: the officer pastes an access token from `onevisit token`
//     (kept in the tab's sessionStorage, sent only as an Authorization
//     header, dropped when it expires), or opens the console through
//     `onevisit console --credentials officer.json`, a local proxy that
//     adds a fresh token to every API request and signs policy events
//     with the officer's key (cmd/onevisit/internal/console). Pages:
//     overview (from /metrics, /healthz, /v1/policy/versions and the
//     checkpoint), policies (versions, proposals with diff and what-if,
//     propose, approve, reject, narrow), audit (by subject with a
//     required reason; by consumer, case id, kind, code and time,
//     filtered on the server by GET /v1/audit/entries; each entry's
//     inclusion proof checked in the page against the signed
//     checkpoint), keys (directory, register a new version, revoke),
//     dead letters (records refused at ingest by dataset and code, from
//     GET /v1/audit/rejections) and clients.
//   - The citizen page signs a resident in through the configured OpenID
//     Connect provider (exchange/citizen; the ID token kept in
//     sessionStorage) and lists every audit entry about them, newest
//     first, each with its inclusion proof checked; the list downloads as
//     JSON, and a resident can ask for the correction of a field, routed to
//     the department that published it, and follow its status (open,
//     accepted, rejected, corrected), asked again every 3 s while one is
//     open.
//
// The in-page proof check: the leaf hash SHA-256(0x00 || entry bytes),
// the RFC 9162 inclusion proof from /v1/audit/proof/inclusion up to the
// checkpoint's root, and the checkpoint's Ed25519 signed-note signature
// against a key from /v1/audit/verifiers (WebCrypto). An entry shows
// "verified" only when all three hold, and what either page shows of an
// entry is decoded from the very bytes it checked.
//
// Both pages are in Chinese (zh-CN) by default with an English switch,
// every control has a label, everything is reachable by keyboard, and
// the layout reflows to one column on a phone.
package webui
