package attack

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/nqrust/identity/cimd"
	"github.com/nqrust/identity/dcr"
)

// TestSSRF drives the server's outbound fetches (RFC 9700 §4.9 style
// SSRF; CIMD §8.6–8.7; MCP "SSRF Against Authorization Servers") through
// the real authorization endpoint. The deployment trusts every domain for
// metadata documents ("*"), the worst case: only the safe client stands
// between a client_id and the server's own network. Every case must end
// on the error page, never a redirect, with nothing stored, no connection
// to a non-public address, and within the fetch timeout.
func TestSSRF(t *testing.T) {
	const timeout = time.Second
	w := newWorld(t, options{cimdDomains: []string{"*"}, fetchTimeout: timeout})
	const (
		blocked     = cimd.ReasonFetchBlocked
		redirect    = cimd.ReasonFetchRedirect
		status      = cimd.ReasonFetchStatus
		tooLarge    = cimd.ReasonFetchTooLarge
		timedOut    = cimd.ReasonFetchTimeout
		contentType = cimd.ReasonFetchContentType
		notObject   = cimd.ReasonNotJSONObject
	)

	// Control: a document on a public address is accepted, so every
	// refusal below comes from what the case changes.
	okID := "https://docs.vscode.dev/ok.json"
	w.site.json(okID, cimdDoc(okID))
	if r := w.browser(user).authorize(authzParams(okID, "http://127.0.0.1:40000/callback", newPKCE(), w.resA, "a:read")); r.status != http.StatusSeeOther ||
		!strings.Contains(r.loc(), "code=") {
		t.Fatalf("control: a public document is refused: %d %q %s", r.status, r.loc(), r.body)
	}

	refuse := func(t *testing.T, id, want string) {
		t.Helper()
		before := w.site.totalHits()
		start := time.Now()
		w.nothingStored(t, func() {
			q := authzParams(id, "http://127.0.0.1/callback", newPKCE(), w.resA, "a:read")
			errorPage(t, w.browser(user).get("/authorize?"+q.Encode()), "invalid_request", want)
		})
		if d := time.Since(start); d > timeout+2*time.Second {
			t.Errorf("refusal took %v (fetch timeout %v)", d, timeout)
		}
		if want == blocked && w.site.totalHits() != before {
			t.Errorf("a blocked address was reached")
		}
		if bad := w.site.dialedNonPublic(); len(bad) != 0 {
			t.Fatalf("connections opened to non-public addresses: %v", bad)
		}
	}

	// Names whose DNS answers are special-purpose addresses.
	for _, name := range []string{"loop", "loop2", "ten", "rfc1918b", "rfc1918c", "meta", "cgnat", "zero", "bcast", "mcast",
		"v6loop", "ula", "linklocal", "mapped", "mapped10", "nat64", "sixtofour", "mixed"} {
		t.Run("ssrf/dns-"+name, func(t *testing.T) {
			refuse(t, "https://"+name+".vscode.dev/client.json", blocked)
		})
	}
	// IP literals and the spellings parsers disagree on.
	for _, tc := range []struct{ name, id string }{
		{"literal-loopback", "https://127.0.0.1/client.json"},
		{"literal-private", "https://10.0.0.5/client.json"},
		{"literal-metadata", "https://169.254.169.254/latest/meta-data/client.json"},
		{"literal-ipv6-loopback", "https://[::1]/client.json"},
		{"literal-ipv4-mapped", "https://[::ffff:127.0.0.1]/client.json"},
		{"literal-ipv4-mapped-hex", "https://[::ffff:7f00:1]/client.json"},
		{"literal-ula", "https://[fd00::1]/client.json"},
		{"literal-zone", "https://[fe80::1%25eth0]/client.json"},
		{"decimal", "https://2130706433/client.json"},
		{"octal", "https://0177.0.0.1/client.json"},
		{"hex", "https://0x7f.0.0.1/client.json"},
		{"hex-dword", "https://0x7f000001/client.json"},
		{"short-form", "https://127.1/client.json"},
		{"octal-dword", "https://017700000001/client.json"},
		{"trailing-dot", "https://loop.vscode.dev./client.json"},
		{"port-to-internal-service", "https://loop.vscode.dev:6379/client.json"},
		{"http-scheme", "http://docs.vscode.dev/client.json"},
	} {
		t.Run("ssrf/"+tc.name, func(t *testing.T) {
			before := w.site.totalHits()
			refuse(t, tc.id, "")
			if w.site.totalHits() != before {
				t.Errorf("%s was fetched", tc.id)
			}
		})
	}

	t.Run("ssrf/dns-rebinding-dials-only-checked-address", func(t *testing.T) {
		// rebind.vscode.dev answers public, then loopback, alternately. The
		// address checked is the address dialled; a second answer never
		// reaches a socket.
		for _, p := range []string{"/a.json", "/b.json", "/c.json"} {
			id := "https://rebind.vscode.dev" + p
			w.site.json(id, cimdDoc(id))
			q := authzParams(id, "http://127.0.0.1/callback", newPKCE(), w.resA, "a:read")
			r := w.browser(user).get("/authorize?" + q.Encode())
			if r.status != http.StatusSeeOther && r.status != http.StatusBadRequest {
				t.Fatalf("%s: %d", id, r.status)
			}
			if r.status == http.StatusBadRequest {
				errorPage(t, r, "invalid_request", blocked)
			}
		}
		if bad := w.site.dialedNonPublic(); len(bad) != 0 {
			t.Fatalf("rebinding reached %v", bad)
		}
	})

	// Redirects are never followed, not even to a valid document.
	for _, code := range []int{301, 302, 303, 307, 308} {
		t.Run("ssrf/redirect-"+strconv.Itoa(code), func(t *testing.T) {
			id := "https://docs.vscode.dev/redirect-" + strconv.Itoa(code) + ".json"
			target := "https://docs.vscode.dev/target-" + strconv.Itoa(code) + ".json"
			w.site.json(target, cimdDoc(id))
			w.site.handle(id, func(rw http.ResponseWriter, r *http.Request) {
				http.Redirect(rw, r, target, code)
			})
			refuse(t, id, redirect)
			if n := w.site.hitsFor(target); n != 0 {
				t.Errorf("redirect target fetched %d times", n)
			}
		})
	}
	t.Run("ssrf/redirect-to-metadata-service", func(t *testing.T) {
		id := "https://docs.vscode.dev/redirect-meta.json"
		w.site.handle(id, func(rw http.ResponseWriter, r *http.Request) {
			http.Redirect(rw, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
		})
		refuse(t, id, redirect)
	})

	// Slow and oversized answers.
	t.Run("ssrf/slow-loris-body", func(t *testing.T) {
		id := "https://slow.vscode.dev/drip.json"
		w.site.handle(id, func(rw http.ResponseWriter, r *http.Request) {
			rw.Header().Set("Content-Type", "application/json")
			rw.WriteHeader(200)
			_, _ = rw.Write([]byte(`{"client_id":"`))
			for range 100 {
				rw.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(100 * time.Millisecond):
				}
				_, _ = rw.Write([]byte("a"))
			}
		})
		refuse(t, id, timedOut)
	})
	t.Run("ssrf/slow-headers", func(t *testing.T) {
		id := "https://slow.vscode.dev/headers.json"
		w.site.handle(id, func(rw http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		})
		refuse(t, id, timedOut)
	})
	padded := func(id string, n int) []byte {
		doc := cimdDoc(id)
		return []byte(doc[:len(doc)-1] + strings.Repeat(" ", n) + "}")
	}
	t.Run("ssrf/huge-body", func(t *testing.T) {
		id := "https://big.vscode.dev/huge.json"
		body := padded(id, 6000) // valid JSON: only the size is wrong
		w.site.handle(id, func(rw http.ResponseWriter, r *http.Request) {
			rw.Header().Set("Content-Type", "application/json")
			_, _ = rw.Write(body)
		})
		refuse(t, id, tooLarge)
	})
	t.Run("ssrf/huge-body-streamed", func(t *testing.T) {
		id := "https://big.vscode.dev/stream.json"
		w.site.handle(id, func(rw http.ResponseWriter, r *http.Request) {
			rw.Header().Set("Content-Type", "application/json")
			chunk := bytes.Repeat([]byte(" "), 64<<10)
			for range 1024 { // 64 MiB unless the client hangs up
				if _, err := rw.Write(chunk); err != nil {
					return
				}
			}
		})
		refuse(t, id, tooLarge)
	})
	t.Run("ssrf/zip-bomb", func(t *testing.T) {
		id := "https://big.vscode.dev/bomb.json"
		var z bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
		_, _ = zw.Write(padded(id, 2<<20)) // 2 MiB of valid JSON, 400 times the cap
		_ = zw.Close()
		if z.Len() > 64<<10 {
			t.Fatalf("bomb is %d bytes compressed", z.Len())
		}
		w.site.handle(id, func(rw http.ResponseWriter, r *http.Request) {
			rw.Header().Set("Content-Type", "application/json")
			rw.Header().Set("Content-Encoding", "gzip")
			_, _ = rw.Write(z.Bytes())
		})
		refuse(t, id, tooLarge)
	})

	// Answers that are not a metadata document.
	for _, tc := range []struct {
		name, ct, body string
		status         int
		want           string
	}{
		{"html-content-type", "text/html", "<html><body>login</body></html>", 200, contentType},
		{"no-content-type", "", `{"client_id":"x"}`, 200, contentType},
		{"json-type-html-body", "application/json", "<html><body>login</body></html>", 200, notObject},
		{"json-array", "application/json", `[{"client_id":"x"}]`, 200, notObject},
		{"json-string", "application/json", `"https://docs.vscode.dev/x"`, 200, notObject},
		{"empty-body", "application/json", ``, 200, notObject},
		{"not-found", "application/json", `{}`, 404, status},
		{"server-error", "application/json", `{}`, 500, status},
		{"no-content", "application/json", ``, 204, status},
	} {
		t.Run("ssrf/non-document-"+tc.name, func(t *testing.T) {
			id := "https://docs.vscode.dev/nondoc-" + tc.name + ".json"
			w.site.handle(id, func(rw http.ResponseWriter, r *http.Request) {
				if tc.ct != "" {
					rw.Header().Set("Content-Type", tc.ct)
				} else {
					rw.Header()["Content-Type"] = nil
				}
				rw.WriteHeader(tc.status)
				_, _ = rw.Write([]byte(tc.body))
			})
			refuse(t, id, tc.want)
		})
	}
	for _, tc := range []struct {
		name, member, value, want string
	}{
		{"client-secret", "client_secret", `"s3cr3t-0123456789"`, cimd.ReasonClientSecret},
		{"shared-secret-auth", "token_endpoint_auth_method", `"client_secret_basic"`, cimd.ReasonSharedSecretAuth},
		{"private-key-in-jwks", "jwks", privateJWKS(), cimd.ReasonPrivateKeys},
	} {
		t.Run("ssrf/document-"+tc.name, func(t *testing.T) {
			id := "https://docs.vscode.dev/doc-" + tc.name + ".json"
			doc := cimdDoc(id)
			if strings.Contains(doc, `"`+tc.member+`"`) {
				doc = strings.Replace(doc, `"token_endpoint_auth_method":"none"`, `"`+tc.member+`":`+tc.value, 1)
			} else {
				doc = doc[:len(doc)-1] + `,"` + tc.member + `":` + tc.value + "}"
			}
			w.site.json(id, doc)
			refuse(t, id, tc.want)
		})
	}
}

// privateJWKS is a key set holding a private EC key.
func privateJWKS() string {
	keys()
	b, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: evilKey, KeyID: "p", Algorithm: "ES256", Use: "sig"}}})
	return string(b)
}

// TestSSRFOtherFetches covers the other URLs a client can hand the server:
// request_uri, the URLs in a registration, logos on the consent page, a
// metadata-document client_id first seen at the token endpoint, and the
// jwks_uri of a dynamically registered client.
func TestSSRFOtherFetches(t *testing.T) {
	w := newWorld(t, options{logos: true})

	t.Run("ssrf/request-uri-never-fetched", func(t *testing.T) {
		target := "https://docs.vscode.dev/request-object.jwt"
		w.site.handle(target, func(rw http.ResponseWriter, r *http.Request) { _, _ = rw.Write([]byte("eyJ")) })
		for _, p := range []string{"request_uri", "request"} {
			q := authzParams(webPubID, webCB, newPKCE(), w.resA, "a:read")
			q.Set(p, target)
			_ = w.browser(user).get("/authorize?" + q.Encode())
		}
		if n := w.site.hitsFor(target); n != 0 {
			t.Errorf("request_uri fetched %d times", n)
		}
	})
	t.Run("ssrf/registration-urls-never-fetched", func(t *testing.T) {
		before := w.site.totalHits()
		reg := w.register(t, `{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"private_key_jwt",
			"jwks_uri":"https://keys.vscode.dev/jwks.json","logo_uri":"https://docs.vscode.dev/logo.png",
			"client_uri":"https://docs.vscode.dev/","tos_uri":"https://docs.vscode.dev/tos","policy_uri":"https://docs.vscode.dev/policy",
			"sector_identifier_uri":"https://docs.vscode.dev/sector.json"}`)
		if reg["client_id"] == "" || w.site.totalHits() != before || len(w.site.dialedNonPublic()) != 0 {
			t.Errorf("registration fetched %d URLs", w.site.totalHits()-before)
		}
	})
	t.Run("ssrf/consent-logo-private-address", func(t *testing.T) {
		reg := w.register(t, `{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none",
			"client_name":"Logo","logo_uri":"https://meta.vscode.dev/latest/meta-data/logo.png"}`)
		b := w.browser(user)
		r := b.get("/authorize?" + authzParams(reg["client_id"].(string), "http://127.0.0.1/cb", newPKCE(), w.resA, "a:read").Encode())
		p, csrf := b.consentPage(r.loc())
		if csrf == "" {
			t.Fatalf("consent page: %d %s", p.status, p.body)
		}
		if strings.Contains(p.body, "meta.vscode.dev") && strings.Contains(p.body, "<img") && strings.Contains(p.body, `src="https://meta`) {
			t.Errorf("the consent page hot-links the client's logo")
		}
		if bad := w.site.dialedNonPublic(); len(bad) != 0 {
			t.Fatalf("logo fetch reached %v", bad)
		}
		if w.site.lookupsFor("meta.vscode.dev") == 0 {
			t.Errorf("the logo was never looked up: the case did not reach the fetch")
		}
	})
	t.Run("ssrf/token-endpoint-metadata-client-private", func(t *testing.T) {
		// A URL client_id never seen at the authorization endpoint, sent
		// straight to the token endpoint, resolves to loopback.
		w.nothingStored(t, func() {
			for _, gt := range []string{"authorization_code", "refresh_token", "client_credentials"} {
				r := w.token(url.Values{"grant_type": {gt}, "client_id": {"https://loop.vscode.dev/client.json"},
					"code": {"x"}, "code_verifier": {newPKCE().verifier}, "refresh_token": {"x"}})
				jsonError(t, r.resp, 401, "invalid_client")
			}
		})
		if bad := w.site.dialedNonPublic(); len(bad) != 0 {
			t.Fatalf("token endpoint reached %v", bad)
		}
		if w.site.lookupsFor("loop.vscode.dev") == 0 {
			t.Errorf("the metadata document was never looked up: the refusal did not come from the address check")
		}
	})
	t.Run("ssrf/registered-client-jwks-uri-loopback", func(t *testing.T) {
		// Registration trusts 127.0.0.0/8 for redirect URIs, so a jwks_uri
		// on 127.0.0.1 registers; it must still never be fetched. The
		// policy here allows client_credentials (the default refuses it
		// for registered clients), so the token endpoint has to
		// authenticate the client with its jwks_uri.
		w := newWorld(t, options{logos: true, registration: func(c *dcr.Config) { c.Anonymous.AllowClientCredentials = true }})
		reg := w.register(t, `{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"private_key_jwt",
			"grant_types":["client_credentials"],"jwks_uri":"https://127.0.0.1:8443/jwks.json"}`)
		id := reg["client_id"].(string)
		a := w.assertion(t, evilKey, jose.ES256, "evil", id, nil)
		before := w.site.totalHits()
		w.nothingStored(t, func() {
			r := w.token(url.Values{"grant_type": {"client_credentials"}, "resource": {w.resA},
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}})
			jsonError(t, r.resp, 401, "invalid_client")
		})
		if w.site.totalHits() != before || len(w.site.dialedNonPublic()) != 0 {
			t.Errorf("jwks_uri on loopback fetched")
		}
	})
}
