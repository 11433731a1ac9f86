package dcr

import "net/http"

// CORS for browser-based registration (the MCP Inspector in direct mode
// calls the endpoint from http://localhost:6274). Only origins a policy
// lists are answered; credentials (cookies) are never allowed, since the
// endpoint does not use them.
const (
	corsAllowHeaders  = "Authorization, Content-Type, MCP-Protocol-Version"
	corsExposeHeaders = "Location, Retry-After, WWW-Authenticate"
	methodsCollection = "POST"
	methodsItem       = "GET, PUT, DELETE"
)

// anyPolicyAllowsOrigin reports whether some configured policy lists origin.
// Preflight requests carry no credentials, so they cannot be attributed to
// one policy.
func (s *settings) anyPolicyAllowsOrigin(origin string) bool {
	return s.anonymous.originAllowed(origin) || s.authenticated.originAllowed(origin)
}

// preflight answers OPTIONS on the collection (item false) or on a
// client's configuration URI (item true).
func (s *settings) preflight(w http.ResponseWriter, r *http.Request, item bool) {
	methods := methodsCollection
	if item {
		methods = methodsItem
	}
	h := w.Header()
	h.Set("Allow", "OPTIONS, "+methods)
	h.Set("Cache-Control", "no-store")
	origin := r.Header.Get("Origin")
	if origin == "" {
		// Not a CORS preflight: a plain OPTIONS asking what is allowed.
		w.WriteHeader(http.StatusNoContent)
		return
	}
	addVaryOrigin(h)
	if !s.anyPolicyAllowsOrigin(origin) {
		s.log.InfoContext(r.Context(), "dcr: CORS preflight refused", "origin", quote(origin))
		w.WriteHeader(http.StatusForbidden)
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Methods", methods)
	h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
	h.Set("Access-Control-Max-Age", corsMaxAge)
	w.WriteHeader(http.StatusNoContent)
}

// allowCORS adds the headers that let a browser at origin read the
// response.
func allowCORS(w http.ResponseWriter, origin string) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
}

// addVaryOrigin marks the answer as depending on the Origin header, once.
func addVaryOrigin(h http.Header) {
	for _, v := range h.Values("Vary") {
		if v == "Origin" {
			return
		}
	}
	h.Add("Vary", "Origin")
}
