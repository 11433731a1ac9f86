package metadata

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func serve(h http.Handler, method string, hdr map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "/.well-known/oauth-protected-resource/mcp", nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestServeJSON(t *testing.T) {
	doc := map[string]any{"resource": "https://mcp.example.com/mcp"}
	h := ServeJSON(doc, ServeOptions{})
	doc["resource"] = "changed" // marshalled at construction

	w := serve(h, http.MethodGet, nil)
	if w.Code != http.StatusOK || w.Body.String() != `{"resource":"https://mcp.example.com/mcp"}` {
		t.Fatalf("GET = %d %q", w.Code, w.Body.String())
	}
	for k, v := range map[string]string{
		"Content-Type":                "application/json",
		"Cache-Control":               "public, max-age=3600",
		"Access-Control-Allow-Origin": "*",
		"Content-Length":              "42",
		"X-Content-Type-Options":      "nosniff",
	} {
		if got := w.Header().Get(k); got != v {
			t.Errorf("GET %s = %q, want %q", k, got, v)
		}
	}
	etag := w.Header().Get("ETag")
	if len(etag) < 10 || etag[0] != '"' {
		t.Fatalf("ETag = %q", etag)
	}

	w = serve(h, http.MethodHead, nil)
	if w.Code != http.StatusOK || w.Body.Len() != 0 || w.Header().Get("Content-Length") != "42" {
		t.Fatalf("HEAD = %d, body %q, length %q", w.Code, w.Body.String(), w.Header().Get("Content-Length"))
	}

	for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
		w = serve(h, http.MethodGet, map[string]string{"If-None-Match": inm})
		if w.Code != http.StatusNotModified || w.Body.Len() != 0 {
			t.Errorf("If-None-Match %s = %d", inm, w.Code)
		}
	}
	w = serve(h, http.MethodGet, map[string]string{"If-None-Match": `"other"`})
	if w.Code != http.StatusOK {
		t.Errorf("stale If-None-Match = %d", w.Code)
	}

	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, "BREW"} {
		w = serve(h, m, nil)
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD, OPTIONS" {
			t.Errorf("%s = %d Allow %q", m, w.Code, w.Header().Get("Allow"))
		}
		if w.Header().Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s answered with CORS headers", m)
		}
	}

	w = serve(h, http.MethodOptions, map[string]string{
		"Origin": "https://inspector.example", "Access-Control-Request-Method": "GET",
		"Access-Control-Request-Headers": "mcp-protocol-version",
	})
	if w.Code != http.StatusNoContent || w.Header().Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(w.Header().Get("Access-Control-Allow-Methods"), "GET") ||
		!strings.Contains(strings.ToLower(w.Header().Get("Access-Control-Allow-Headers")), "mcp-protocol-version") {
		t.Fatalf("preflight = %d %v", w.Code, w.Header())
	}
}

func TestServeJSONOptions(t *testing.T) {
	w := serve(ServeJSON(1, ServeOptions{MaxAge: 90 * time.Second, OmitETag: true}), http.MethodGet,
		map[string]string{"If-None-Match": "*"})
	if w.Code != http.StatusOK || w.Header().Get("Cache-Control") != "public, max-age=90" || w.Header().Get("ETag") != "" {
		t.Fatalf("got %d %v", w.Code, w.Header())
	}
	w = serve(ServeJSON(1, ServeOptions{MaxAge: -1}), http.MethodGet, nil)
	if w.Header().Get("Cache-Control") != "no-cache" {
		t.Fatalf("Cache-Control = %q", w.Header().Get("Cache-Control"))
	}
	w = serve(ServeJSON(make(chan int), ServeOptions{}), http.MethodGet, nil)
	if w.Code != http.StatusInternalServerError {
		t.Fatalf("unmarshallable value served with %d", w.Code)
	}
}

func TestDocumentHandlers(t *testing.T) {
	if _, err := AuthorizationServerHandler(&AuthorizationServer{Issuer: "https://a"}); err == nil {
		t.Fatal("invalid AS metadata accepted")
	}
	if _, err := AuthorizationServerHandler(nil); err == nil {
		t.Fatal("nil AS metadata accepted")
	}
	if _, err := ProtectedResourceHandler(&ProtectedResource{Resource: "https://r"}); err == nil {
		t.Fatal("PRM without authorization servers accepted")
	}
	if _, err := ProtectedResourceHandler(nil); err == nil {
		t.Fatal("nil PRM accepted")
	}
	if _, err := OpenIDConfigurationHandler(goodAS()); err == nil {
		t.Fatal("incomplete OpenID configuration accepted")
	}

	as := goodAS()
	h, err := AuthorizationServerHandler(as)
	if err != nil {
		t.Fatal(err)
	}
	as.Issuer = "https://changed.example"
	var got AuthorizationServer
	w := serve(h, http.MethodGet, nil)
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || got.Issuer != "https://auth.example.com" || got.CodeChallengeMethodsSupported[0] != "S256" {
		t.Fatalf("served %s (%v)", w.Body.String(), err)
	}

	oidc := goodAS()
	oidc.SubjectTypesSupported, oidc.IDTokenSigningAlgValuesSupported = []string{"public"}, []string{"RS256"}
	if _, err := OpenIDConfigurationHandler(oidc); err != nil {
		t.Fatal(err)
	}

	h, err = ProtectedResourceHandler(goodPRM())
	if err != nil {
		t.Fatal(err)
	}
	var prm ProtectedResource
	w = serve(h, http.MethodGet, nil)
	if err := json.Unmarshal(w.Body.Bytes(), &prm); err != nil || prm.Resource != "https://mcp.example.com/mcp" {
		t.Fatalf("served %s (%v)", w.Body.String(), err)
	}
}

// discardWriter is a minimal ResponseWriter so that the benchmark measures
// the handler, not the recorder.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

func BenchmarkMetadataGET(b *testing.B) {
	h, err := AuthorizationServerHandler(goodAS())
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/.well-known/oauth-authorization-server", nil)
	w := &discardWriter{h: make(http.Header, 8)}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
}
