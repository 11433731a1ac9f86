// Package consent is the default consent page of package authz: the step
// where a signed-in user sees which application asks for what, and allows
// or denies it.
//
// # Wiring
//
// The host owns login; this package owns consent. The authorization
// server parks each validated request and sends the browser to
// authz.Config.InteractionURL with a "request_id". Mount a [Handler] there:
//
//	srv, _ := authz.New(authz.Config{..., InteractionURL: "/consent"})
//	h, _ := consent.New(consent.Config{
//		Server:       srv,
//		Authenticate: mySession, // func(*http.Request) (subject string, authTime time.Time, ok bool)
//		LoginURL:     "/login",
//		Store:        store,     // optional: lets users remember their decision
//	})
//	mux.Handle("/", srv.Handler())
//	mux.Handle("/consent", h)
//
// When nobody is signed in, the handler answers 303 to LoginURL with the
// same "request_id"; the login page signs the user in and sends the
// browser back to the handler with it. The handler then shows the page
// (GET) and completes the request with the user's decision (POST) through
// authz.Server.Approve or Deny, which answer 303 to the client with a code,
// or with error=access_denied, and with state and iss either way.
//
// # What the page shows
//
// The client's name and logo; for a client identified by a Client ID
// Metadata Document, the host of its client_id URL (the one part of its
// identity that was proven); for a dynamically registered client, that it
// registered itself and nothing about it was checked; the host the browser
// returns to; a warning when every redirect URI of the client is a loopback
// address, since any local program can claim such a client's name; each
// scope with its description and each resource with its display name.
//
// Every string that came from the client is self-asserted: it is stripped
// of control and format characters (including bidirectional overrides),
// cut to a bounded length and escaped by html/template. Logos are fetched
// once by the server through a client that refuses loopback, private and
// link-local addresses and redirects, checked by their bytes (PNG, JPEG,
// GIF and WebP only; SVG is refused), size-capped, cached in a bounded LRU,
// and served from this handler (GET ?logo=…) with a sandboxing CSP: the
// browser never contacts a host the client chose.
//
// # Protection
//
//   - Cross-site request forgery: a POST must pass net/http's
//     CrossOriginProtection (Sec-Fetch-Site / Origin), carry this browser's
//     binding cookie (SameSite=Lax, HttpOnly, "__Host-" prefixed and
//     Secure; on plain http to a loopback host, where browsers refuse both,
//     the cookie is named [InsecureCookieName] instead), and carry a token
//     that is an HMAC over the request ID, the signed-in subject and that
//     cookie, compared in constant time. A token minted for the attacker's
//     own session or for another request is worthless.
//   - Clickjacking: Content-Security-Policy frame-ancestors 'none' and
//     X-Frame-Options DENY.
//   - The page has no script: default-src 'none', the inlined stylesheet
//     allowed by its hash, images from this origin only, form-action 'self'
//     plus the origin of the client's redirect URI (browsers check the
//     redirect that answers a form against form-action).
//   - Referrer-Policy no-referrer, nosniff, no caching; 303 after POST.
//
// # Remembered consent
//
// With Config.Store, the page offers "remember my decision". A remembered
// consent covers a user, a client, and the scopes and resources approved
// (approving more later adds to it); while it covers a request, the page is
// skipped, unless the client sends prompt=consent. It lasts
// Config.RememberFor and [Handler.Revoke] forgets it. Clients whose
// every redirect URI is a loopback address are never remembered unless
// Config.RememberLoopbackOnly is set.
//
// prompt=login sends a user whose authentication predates the request to
// the login page again (with prompt=login added to its query), and
// prompt=none never shows a page: a request that would need one is denied
// with login_required (no session) or consent_required (no remembered
// consent), as OpenID Connect Core §3.1.2.6 asks.
//
// # Customising
//
// Config.Messages translates or rewords the strings (a [Messages] struct
// whose empty fields keep the English defaults). Config.Template replaces
// the page itself: define "consent" (executed with [PageData]) and
// optionally "error" (with [ErrorData]), ideally on top of [Layout].
// [ErrorPage] gives authz.Config.ErrorPage the same look for the pages the
// authorization server shows itself (unknown client, unregistered redirect
// URI, expired request):
//
//	srv, _ := authz.New(authz.Config{..., ErrorPage: consent.ErrorPage(nil, nil)})
//
// A host that wants a different consent step altogether mounts its own
// handler at the interaction URL and calls authz.Server.PendingRequest,
// Approve and Deny itself.
//
// The built-in pages use no JavaScript, work with the keyboard alone
// (the form's first button is "Deny", so pressing Enter never approves by
// accident), label every control for screen readers, keep WCAG AA contrast
// in light and dark mode, and fit phone and desktop widths. A host's
// login page can share their look: [Layout] returns the page layout as a
// template set and [SetPageHeaders] sets the matching security headers.
package consent
