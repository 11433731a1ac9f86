package attack

import (
	"context"
	"encoding/base64"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/nqrust/identity/dcr"
	"github.com/nqrust/identity/storage"
)

const regBody = `{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}`

// TestRegistrationAbuse covers registration floods (RFC 7591 §3.1 rate
// limiting, Gotcha 12 "DCR row explosion") and RFC 7592 access control.
func TestRegistrationAbuse(t *testing.T) {
	post := func(w *world, body string) *resp {
		return w.browser("").send(http.MethodPost, "/register", body, "Content-Type", "application/json")
	}
	t.Run("abuse/anonymous-client-credentials-refused", func(t *testing.T) {
		// An anonymous registrant must not obtain a machine client: the
		// client_credentials grant issues tokens with no user signing in or
		// consenting, so an open policy that allowed it would hand out
		// tokens for the MCP resource to anyone who can register.
		w := newWorld(t, options{})
		w.nothingStored(t, func() {
			for _, body := range []string{
				`{"grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_basic","scope":"a:read"}`,
				`{"redirect_uris":["http://127.0.0.1/cb"],"grant_types":["authorization_code","client_credentials"],"token_endpoint_auth_method":"client_secret_post"}`,
			} {
				r := post(w, body)
				if r.status != http.StatusBadRequest || r.jsonErr() != "invalid_client_metadata" || !strings.Contains(r.body, "client_credentials") {
					t.Fatalf("registration asking for client_credentials: %d %s", r.status, r.body)
				}
			}
		})
	})
	t.Run("abuse/registration-flood-rate-limited", func(t *testing.T) {
		w := newWorld(t, options{registration: func(c *dcr.Config) { c.Anonymous.RateLimit = rate.Every(time.Minute); c.Anonymous.RateBurst = 3 }})
		for i := range 3 {
			if r := post(w, regBody); r.status != 201 {
				t.Fatalf("registration %d: %d %s", i, r.status, r.body)
			}
		}
		w.nothingStored(t, func() {
			r := post(w, regBody)
			if r.status != http.StatusTooManyRequests || r.jsonErr() != "temporarily_unavailable" {
				t.Fatalf("4th registration: %d %s", r.status, r.body)
			}
			if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
				t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
			}
		})
		if n, _ := w.store.CountClients(context.Background(), storage.ClientRegistered); n != 3 {
			t.Errorf("%d clients stored, want 3", n)
		}
	})
	t.Run("abuse/registration-flood-refused-requests-count", func(t *testing.T) {
		// Garbage is cheap to send; it must spend the budget too.
		w := newWorld(t, options{registration: func(c *dcr.Config) { c.Anonymous.RateLimit = rate.Every(time.Minute); c.Anonymous.RateBurst = 3 }})
		for range 3 {
			if r := post(w, `{"redirect_uris":"nope"}`); r.status != 400 {
				t.Fatalf("bad body: %d", r.status)
			}
		}
		w.nothingStored(t, func() {
			if r := post(w, regBody); r.status != http.StatusTooManyRequests {
				t.Errorf("after a burst of refused bodies: %d %s", r.status, r.body)
			}
		})
	})
	t.Run("abuse/registration-client-limit", func(t *testing.T) {
		w := newWorld(t, options{registration: func(c *dcr.Config) { c.MaxClients = 3 }})
		for i := range 3 {
			if r := post(w, regBody); r.status != 201 {
				t.Fatalf("registration %d: %d %s", i, r.status, r.body)
			}
		}
		w.nothingStored(t, func() {
			if r := post(w, regBody); r.status != 403 || r.jsonErr() != "access_denied" {
				t.Errorf("over the limit: %d %s", r.status, r.body)
			}
		})
	})
	t.Run("abuse/registration-untrusted-caller", func(t *testing.T) {
		// Only the listed networks may register; the caller here is
		// 127.0.0.1, which this policy does not list.
		w := newWorld(t, options{registration: func(c *dcr.Config) { c.Anonymous.TrustedHosts = []string{"192.0.2.0/24", "app.example.com"} }})
		w.nothingStored(t, func() {
			r := post(w, `{"redirect_uris":["https://app.example.com/cb"],"token_endpoint_auth_method":"none"}`)
			if r.status != 403 || r.jsonErr() != "access_denied" {
				t.Errorf("untrusted caller: %d %s", r.status, r.body)
			}
		})
	})
	t.Run("abuse/registration-token-of-other-client", func(t *testing.T) {
		w := newWorld(t, options{})
		a := w.register(t, regBody)
		b := w.register(t, regBody)
		for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
			w.nothingStored(t, func() {
				body := ""
				if m == http.MethodPut {
					body = `{"client_id":"` + a["client_id"].(string) + `","redirect_uris":["https://app.example.com/cb"]}`
				}
				r := w.browser("").send(m, "/register/"+a["client_id"].(string), body, "Content-Type", "application/json",
					"Authorization", "Bearer "+b["registration_access_token"].(string))
				if r.status != 401 || r.jsonErr() != "invalid_token" || strings.Contains(r.body, "redirect_uris") {
					t.Errorf("%s with another client's token: %d %s", m, r.status, r.body)
				}
			})
		}
		if _, err := w.store.GetClient(context.Background(), a["client_id"].(string)); err != nil {
			t.Errorf("client deleted: %v", err)
		}
	})
}

// TestTokenScanning covers introspection and revocation by the wrong
// caller (RFC 7662 §4, RFC 7009 §2.1).
func TestTokenScanning(t *testing.T) {
	w := newWorld(t, options{})
	tr := w.tokens(pubID, loopCB, w.resA, "a:read")
	basic := func(id, secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
	}
	t.Run("abuse/introspect-anonymous", func(t *testing.T) {
		r := w.browser("").postForm("/introspect", url.Values{"token": {tr.AccessToken}})
		jsonError(t, r, 401, "invalid_client")
		if strings.Contains(r.body, "active") {
			t.Errorf("anonymous introspection answered: %s", r.body)
		}
	})
	t.Run("abuse/introspect-public-client", func(t *testing.T) {
		r := w.browser("").postForm("/introspect", url.Values{"token": {tr.AccessToken}, "client_id": {pubID}})
		jsonError(t, r, 401, "invalid_client")
	})
	t.Run("abuse/introspect-others-token", func(t *testing.T) {
		r := w.browser("").postForm("/introspect", url.Values{"token": {tr.AccessToken}}, "Authorization", basic(confID, confSecret))
		if r.status != 200 || strings.TrimSpace(r.body) != `{"active":false}` {
			t.Errorf("another client's token introspected: %d %s", r.status, r.body)
		}
	})
	t.Run("abuse/revoke-others-token", func(t *testing.T) {
		r := w.browser("").postForm("/revoke", url.Values{"token": {tr.RefreshToken}}, "Authorization", basic(confID, confSecret))
		if r.status != 200 {
			t.Errorf("revocation answered %d", r.status)
		}
		if m := w.introspect(tr.AccessToken); m["active"] != true {
			t.Errorf("another client revoked the grant: %v", m)
		}
		rr := w.token(url.Values{"grant_type": {"refresh_token"}, "client_id": {pubID}, "refresh_token": {tr.RefreshToken}})
		if rr.status != 200 {
			t.Errorf("refresh after a foreign revocation: %d %s", rr.status, rr.body)
		}
	})
}

// TestConstantTimeComparisons reviews the sources: client secrets and
// registration access tokens are compared by digest with storage.Hash.Equal,
// which uses crypto/subtle; no Hash is ever compared with == or != except
// against the zero value; the PKCE and CSRF checks use constant-time
// comparisons too.
func TestConstantTimeComparisons(t *testing.T) {
	root := filepath.Join("..", "..")
	t.Run("abuse/timing-safe-hash-equal-is-constant-time", func(t *testing.T) {
		f := parseFile(t, filepath.Join(root, "storage", "storage.go"))
		fn := findFunc(f, "Hash", "Equal")
		if fn == nil || !calls(fn, "subtle", "ConstantTimeCompare") {
			t.Fatalf("storage.Hash.Equal does not use subtle.ConstantTimeCompare")
		}
	})
	t.Run("abuse/timing-safe-no-hash-compared-with-operators", func(t *testing.T) {
		var equalCalls []string
		for _, dir := range []string{"authz", "dcr", filepath.Join("authz", "bearer"), filepath.Join("authz", "consent")} {
			for _, f := range parseDir(t, filepath.Join(root, dir)) {
				ast.Inspect(f.file, func(n ast.Node) bool {
					switch x := n.(type) {
					case *ast.BinaryExpr:
						if x.Op != token.EQL && x.Op != token.NEQ {
							return true
						}
						if (hashy(x.X) || hashy(x.Y)) && !isZeroHash(x.X) && !isZeroHash(x.Y) {
							t.Errorf("%s: a Hash compared with %s (not constant-time): %s", f.fset.Position(x.Pos()), x.Op, exprString(x))
						}
					case *ast.CallExpr:
						if sel, ok := x.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Equal" && (hashy(sel.X) || len(x.Args) == 1 && hashy(x.Args[0])) {
							equalCalls = append(equalCalls, dir+": "+exprString(x))
						}
					}
					return true
				})
			}
		}
		joined := strings.Join(equalCalls, "\n")
		for _, want := range []string{"authz: ", "dcr: "} {
			if !strings.Contains(joined, want) {
				t.Errorf("no Hash.Equal call in %s; secret checks must compare digests in constant time\n%s", want, joined)
			}
		}
		for _, field := range []string{"SecretHash", "RegistrationTokenHash"} {
			if !strings.Contains(joined, field) {
				t.Errorf("%s is never checked with Hash.Equal\n%s", field, joined)
			}
		}
	})
	t.Run("abuse/timing-safe-pkce-and-csrf", func(t *testing.T) {
		found := map[string]bool{}
		for _, dir := range []string{"authz", filepath.Join("authz", "consent")} {
			for _, f := range parseDir(t, filepath.Join(root, dir)) {
				for _, d := range f.file.Decls {
					fn, ok := d.(*ast.FuncDecl)
					if !ok {
						continue
					}
					switch fn.Name.Name {
					case "pkceMatches":
						found["pkce"] = calls(fn, "subtle", "ConstantTimeCompare")
					case "validCSRF":
						found["csrf"] = calls(fn, "hmac", "Equal") || calls(fn, "subtle", "ConstantTimeCompare")
					}
				}
			}
		}
		if !found["pkce"] || !found["csrf"] {
			t.Errorf("constant-time comparison missing: %v (pkceMatches, consent validCSRF)", found)
		}
	})
}

type parsed struct {
	fset *token.FileSet
	file *ast.File
}

func parseFile(t *testing.T, path string) *ast.File {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// parseDir parses the non-test Go files of one package directory.
func parseDir(t *testing.T, dir string) []parsed {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []parsed
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, parsed{fset, f})
	}
	if len(out) == 0 {
		t.Fatalf("no sources in %s", dir)
	}
	return out
}

// findFunc returns the method recv.name.
func findFunc(f *ast.File, recv, name string) *ast.FuncDecl {
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Name.Name != name || fn.Recv == nil || len(fn.Recv.List) != 1 {
			continue
		}
		if id, ok := fn.Recv.List[0].Type.(*ast.Ident); ok && id.Name == recv {
			return fn
		}
	}
	return nil
}

// calls reports whether fn calls pkg.name.
func calls(fn *ast.FuncDecl, pkg, name string) bool {
	found := false
	ast.Inspect(fn, func(n ast.Node) bool {
		if c, ok := n.(*ast.CallExpr); ok {
			if sel, ok := c.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == name {
				if id, ok := sel.X.(*ast.Ident); ok && id.Name == pkg {
					found = true
				}
			}
		}
		return !found
	})
	return found
}

// hashy reports whether an expression is, by its spelling, a storage.Hash:
// a field or variable named ...Hash or hash, or a call to HashOf/hashOf.
func hashy(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.ParenExpr:
		return hashy(x.X)
	case *ast.Ident:
		return x.Name == "hash" || strings.HasSuffix(x.Name, "Hash")
	case *ast.SelectorExpr:
		return x.Sel.Name == "hash" || strings.HasSuffix(x.Sel.Name, "Hash")
	case *ast.CallExpr:
		var name string
		switch f := x.Fun.(type) {
		case *ast.Ident:
			name = f.Name
		case *ast.SelectorExpr:
			name = f.Sel.Name
		}
		return name == "HashOf" || name == "hashOf"
	}
	return false
}

// isZeroHash reports whether e is the zero Hash literal (Hash{} or
// storage.Hash{}): comparing with it reveals nothing secret.
func isZeroHash(e ast.Expr) bool {
	cl, ok := e.(*ast.CompositeLit)
	if !ok || len(cl.Elts) != 0 {
		return false
	}
	switch ty := cl.Type.(type) {
	case *ast.Ident:
		return ty.Name == "Hash"
	case *ast.SelectorExpr:
		return ty.Sel.Name == "Hash"
	}
	return false
}

func exprString(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		return exprString(x.X) + "." + x.Sel.Name
	case *ast.CallExpr:
		args := make([]string, len(x.Args))
		for i, a := range x.Args {
			args[i] = exprString(a)
		}
		return exprString(x.Fun) + "(" + strings.Join(args, ", ") + ")"
	case *ast.BinaryExpr:
		return exprString(x.X) + " " + x.Op.String() + " " + exprString(x.Y)
	case *ast.ParenExpr:
		return "(" + exprString(x.X) + ")"
	case *ast.UnaryExpr:
		return x.Op.String() + exprString(x.X)
	case *ast.BasicLit:
		return x.Value
	}
	return "…"
}

// TestRegistrationManagementAbuse covers RFC 7592 updates and deletion
// used to escape the registration policy or to keep stolen tokens alive.
func TestRegistrationManagementAbuse(t *testing.T) {
	w := newWorld(t, options{})
	put := func(id, rat, body string) *resp {
		return w.browser("").send(http.MethodPut, "/register/"+id, body, "Content-Type", "application/json", "Authorization", "Bearer "+rat)
	}
	t.Run("abuse/registration-update-untrusted-redirect", func(t *testing.T) {
		reg := w.register(t, regBody)
		id, rat := reg["client_id"].(string), reg["registration_access_token"].(string)
		w.nothingStored(t, func() {
			r := put(id, rat, `{"client_id":"`+id+`","redirect_uris":["https://evil.example/cb"],"token_endpoint_auth_method":"none"}`)
			if r.status != 400 || r.jsonErr() != "invalid_redirect_uri" {
				t.Errorf("update to an untrusted redirect: %d %s", r.status, r.body)
			}
		})
		c, err := w.store.GetClient(context.Background(), id)
		if err != nil || len(c.Metadata.RedirectURIs) != 1 || c.Metadata.RedirectURIs[0] != "http://127.0.0.1/cb" {
			t.Errorf("stored client changed: %+v %v", c, err)
		}
	})
	t.Run("abuse/registration-update-other-client-id", func(t *testing.T) {
		reg := w.register(t, regBody)
		id, rat := reg["client_id"].(string), reg["registration_access_token"].(string)
		w.nothingStored(t, func() {
			r := put(id, rat, `{"client_id":"`+confID+`","redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}`)
			if r.status != 400 || r.jsonErr() != "invalid_client_metadata" {
				t.Errorf("update naming another client_id: %d %s", r.status, r.body)
			}
		})
	})
	t.Run("abuse/registration-update-server-managed-members", func(t *testing.T) {
		reg := w.register(t, regBody)
		id, rat := reg["client_id"].(string), reg["registration_access_token"].(string)
		w.nothingStored(t, func() {
			r := put(id, rat, `{"client_id":"`+id+`","redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none",
				"registration_access_token":"chosen-token-0123456789","client_id_issued_at":1}`)
			if r.status != 400 || r.jsonErr() != "invalid_client_metadata" {
				t.Errorf("update setting server-managed members: %d %s", r.status, r.body)
			}
		})
	})
	t.Run("abuse/registration-management-of-foreign-kinds", func(t *testing.T) {
		// Static and metadata-document clients have no registration
		// access token; no token may manage them.
		id := "https://docs.vscode.dev/managed.json"
		w.site.json(id, cimdDoc(id))
		w.tokens(id, "http://127.0.0.1:40000/callback", w.resA, "a:read")
		for _, target := range []string{id, confID, pubID} {
			for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
				w.nothingStored(t, func() {
					r := w.browser("").send(m, "/register/"+url.PathEscape(target), `{"client_id":"`+target+`","redirect_uris":["http://127.0.0.1/cb"]}`,
						"Content-Type", "application/json", "Authorization", "Bearer a.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
					// A URL-shaped id does not even route (404); others are 401.
					if (r.status != 401 && r.status != 404) || strings.Contains(r.body, "redirect_uris") {
						t.Errorf("%s %s: %d %s", m, target, r.status, r.body)
					}
				})
			}
		}
		if c, err := w.store.GetClient(context.Background(), id); err != nil || c.Kind != storage.ClientMetadataDocument {
			t.Errorf("metadata-document client changed: %+v %v", c, err)
		}
	})
	t.Run("abuse/deleted-client-tokens-dead", func(t *testing.T) {
		reg := w.register(t, `{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"]}`)
		id, rat := reg["client_id"].(string), reg["registration_access_token"].(string)
		tr := w.tokens(id, "http://127.0.0.1/cb", w.resA, "a:read")
		p := newPKCE()
		code := w.code(authzParams(id, "http://127.0.0.1/cb", p, w.resA, "a:read"))
		if r := w.browser("").send(http.MethodDelete, "/register/"+id, "", "Authorization", "Bearer "+rat); r.status != 204 {
			t.Fatalf("delete: %d %s", r.status, r.body)
		}
		if m := w.introspect(tr.AccessToken); m["active"] != false {
			t.Errorf("access token of a deleted client still active: %v", m)
		}
		w.nothingStored(t, func() {
			r := w.token(url.Values{"grant_type": {"refresh_token"}, "client_id": {id}, "refresh_token": {tr.RefreshToken}})
			jsonError(t, r.resp, 401, "invalid_client")
			jsonError(t, w.exchange(id, code, p.verifier, "http://127.0.0.1/cb").resp, 401, "invalid_client")
			errorPage(t, w.browser(user).get("/authorize?"+authzParams(id, "http://127.0.0.1/cb", newPKCE(), w.resA, "a:read").Encode()),
				"invalid_request", "Unknown client.")
		})
	})
}

// TestNoSecretsInLogs runs successful and failed flows with every
// component logging at debug level, and searches the log for every
// secret that went over the wire.
func TestNoSecretsInLogs(t *testing.T) {
	logs := &syncBuffer{}
	w := newWorld(t, options{logs: logs, stepUp: true})
	var secrets []string
	p := newPKCE()
	code := w.code(authzParams(confID, webCB, p, w.resA, "a:read"))
	tr := w.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {p.verifier}}, confID, confSecret)
	secrets = append(secrets, code, p.verifier, tr.AccessToken, tr.RefreshToken, confSecret)
	// Failures: refresh reuse, code replay, wrong secret, bad tokens.
	rt2 := w.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}}, confID, confSecret)
	w.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}}, confID, confSecret)
	secrets = append(secrets, rt2.AccessToken, rt2.RefreshToken)
	w.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {p.verifier}}, confID, confSecret)
	w.token(url.Values{"grant_type": {"client_credentials"}}, confID, "wrong-"+confSecret)
	secrets = append(secrets, "wrong-"+confSecret)
	forged := w.forge("JWT", w.claims(w.resA))
	w.callMCP(w.resA, "Bearer "+forged)
	w.callMCP(w.resB, "Bearer "+tr.AccessToken)
	w.callMCP(w.resA, "Bearer "+tr.AccessToken, "Mcp-Name", "admin")
	secrets = append(secrets, forged)
	reg := w.register(t, `{"redirect_uris":["https://app.example.com/cb"],"token_endpoint_auth_method":"client_secret_basic"}`)
	secrets = append(secrets, reg["client_secret"].(string), reg["registration_access_token"].(string))
	w.browser("").get("/register/"+reg["client_id"].(string), "Authorization", "Bearer "+reg["registration_access_token"].(string)+"x")

	t.Run("abuse/logs-carry-no-secrets", func(t *testing.T) {
		out := logs.String()
		if len(out) == 0 {
			t.Fatal("nothing was logged; the case proves nothing")
		}
		for i, s := range secrets {
			if s == "" {
				t.Fatalf("flow step %d failed to produce its secret", i)
			}
			if strings.Contains(out, s) || len(s) > 40 && strings.Contains(out, s[:40]) {
				t.Errorf("log carries a secret (%.12s…)", s)
			}
		}
	})
}
