package consent

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// BenchmarkConsentPage renders the consent page of a parked request for a
// signed-in user whose browser already holds the binding cookie: the
// path every interactive authorization takes once.
func BenchmarkConsentPage(b *testing.B) {
	hs := newHarness(b, options{})
	c := hs.client("alice")
	f := c.park(loopbackID, "http://127.0.0.1:4711/callback")
	first := c.page(f.id) // fetches the logo and mints the cookie
	var binding string
	for _, ck := range first.Cookies() {
		if ck.Name == InsecureCookieName {
			binding = ck.Value
		}
	}
	target := "/consent?request_id=" + url.QueryEscape(f.id)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		req.Host = "127.0.0.1"
		req.Header.Set("Cookie", "session=alice; "+InsecureCookieName+"="+binding)
		rec := httptest.NewRecorder()
		hs.h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

func BenchmarkCSRFToken(b *testing.B) {
	key := bytes.Repeat([]byte{3}, 32)
	b.ReportAllocs()
	for b.Loop() {
		tok := csrfToken(key, "Rh2lz7U8mM6H2bxisDbbM_OrwJ0dBcEmpnb87Gcqq10", "alice", "Y2Y3b3R0ZXN0YmluZGluZ2Nvb2tpZXZhbHVlMTIzNDU")
		if len(tok) != tokenLen {
			b.Fatal(tok)
		}
	}
}

func BenchmarkClean(b *testing.B) {
	s := strings.Repeat("Some Client\u202E name  ", 8)
	b.ReportAllocs()
	for b.Loop() {
		_ = clean(s, maxNameLen)
	}
}
