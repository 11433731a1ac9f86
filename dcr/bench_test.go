package dcr_test

import (
	"net/http"
	"testing"

	"github.com/nqrust/identity/dcr"
)

func BenchmarkRegister(b *testing.B) {
	f := newFixture(b, func(c *dcr.Config) { c.MaxClients = -1 })
	b.ReportAllocs()
	for b.Loop() {
		if rec := f.do(b, req{body: vscodeBody}); rec.Code != http.StatusCreated {
			b.Fatal(rec.Code, rec.Body)
		}
	}
}

// BenchmarkRefusedOrigin measures the cost of turning away a request from
// a browser origin that is not allowed, which happens before the body is
// read.
func BenchmarkRefusedOrigin(b *testing.B) {
	f := newFixture(b, nil)
	hdr := map[string]string{"Origin": "https://evil.example.net"}
	b.ReportAllocs()
	for b.Loop() {
		if rec := f.do(b, req{body: inspectorBody, headers: hdr}); rec.Code != http.StatusForbidden {
			b.Fatal(rec.Code)
		}
	}
}
