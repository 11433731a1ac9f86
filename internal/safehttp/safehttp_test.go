package safehttp_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nqrust/identity/internal/safehttp"
	"github.com/nqrust/identity/internal/safehttp/safehttptest"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		addr string
		want safehttp.Category
	}{
		{"127.0.0.1", safehttp.CatLoopback},
		{"127.255.255.254", safehttp.CatLoopback},
		{"10.0.0.1", safehttp.CatPrivate},
		{"172.16.0.1", safehttp.CatPrivate},
		{"172.31.255.255", safehttp.CatPrivate},
		{"172.32.0.1", safehttp.CatPublic},
		{"192.168.1.1", safehttp.CatPrivate},
		{"100.64.0.1", safehttp.CatSharedCGNAT},
		{"100.127.255.255", safehttp.CatSharedCGNAT},
		{"100.128.0.1", safehttp.CatPublic},
		{"169.254.169.254", safehttp.CatLinkLocal},
		{"169.254.0.1", safehttp.CatLinkLocal},
		{"0.0.0.0", safehttp.CatUnspecified},
		{"0.1.2.3", safehttp.CatUnspecified},
		{"224.0.0.1", safehttp.CatMulticast},
		{"239.255.255.250", safehttp.CatMulticast},
		{"255.255.255.255", safehttp.CatBroadcast},
		{"240.0.0.1", safehttp.CatReserved},
		{"192.0.0.170", safehttp.CatReserved},
		{"192.88.99.1", safehttp.CatReserved},
		{"192.0.2.1", safehttp.CatDocumentation},
		{"198.51.100.7", safehttp.CatDocumentation},
		{"203.0.113.9", safehttp.CatDocumentation},
		{"198.18.0.1", safehttp.CatBenchmarking},
		{"198.19.255.255", safehttp.CatBenchmarking},
		{"::1", safehttp.CatLoopback},
		{"::", safehttp.CatUnspecified},
		{"::ffff:127.0.0.1", safehttp.CatLoopback},
		{"::ffff:169.254.169.254", safehttp.CatLinkLocal},
		{"::ffff:10.0.0.1", safehttp.CatPrivate},
		{"::ffff:8.8.8.8", safehttp.CatPublic},
		{"::127.0.0.1", safehttp.CatReserved}, // IPv4-compatible
		{"64:ff9b::7f00:1", safehttp.CatEmbedded},
		{"64:ff9b::a9fe:a9fe", safehttp.CatEmbedded},
		{"64:ff9b::a00:1", safehttp.CatEmbedded},
		{"64:ff9b::808:808", safehttp.CatPublic},
		{"64:ff9b:1::1", safehttp.CatReserved},
		{"2002:7f00:1::1", safehttp.CatEmbedded},
		{"2002:a9fe:a9fe::1", safehttp.CatEmbedded},
		{"2002:c0a8:101::1", safehttp.CatEmbedded},
		{"2002:808:808::1", safehttp.CatPublic},
		{"2001::1", safehttp.CatReserved}, // Teredo
		{"2001:db8::1", safehttp.CatDocumentation},
		{"3fff::1", safehttp.CatDocumentation},
		{"2001:2::1", safehttp.CatBenchmarking},
		{"100::1", safehttp.CatReserved},
		{"5f00::1", safehttp.CatReserved},
		{"fc00::1", safehttp.CatPrivate},
		{"fd12:3456::1", safehttp.CatPrivate},
		{"fe80::1", safehttp.CatLinkLocal},
		{"fec0::1", safehttp.CatReserved},
		{"ff02::1", safehttp.CatMulticast},
		{"fe80::1%eth0", safehttp.CatZoned},
		{"8.8.8.8", safehttp.CatPublic},
		{"1.1.1.1", safehttp.CatPublic},
		{"2606:4700:4700::1111", safehttp.CatPublic},
		{"2001:4860:4860::8888", safehttp.CatPublic},
	}
	for _, c := range cases {
		if got := safehttp.Classify(netip.MustParseAddr(c.addr)); got != c.want {
			t.Errorf("Classify(%s) = %q, want %q", c.addr, got, c.want)
		}
	}
	if safehttp.Classify(netip.Addr{}) == safehttp.CatPublic {
		t.Error("invalid address classified public")
	}
}

func TestValidHost(t *testing.T) {
	good := []string{"vscode.dev", "VSCode.Dev", "a-b.example", "xn--80ak6aa92e.com", "localhost",
		"127.0.0.1", "::1", "::ffff:127.0.0.1", "2001:db8::1", "a1.b2c", strings.Repeat("a", 63) + ".com"}
	bad := []string{"", "2130706433", "0177.0.0.1", "0x7f.1", "0x7f000001", "127.1", "127.0.0.01",
		"1.2.3.4.5", "a.0x", "a.0xff", "a.123", "a..b", ".a.com", "-a.com", "a-.com", "exa mple.com",
		"vscodе.dev", "a.b.", "under_score.com", "0:0:0:0:0:0:0:1", "::ffff:7f00:1", "::FFFF:127.0.0.1",
		"fe80::1%eth0", strings.Repeat("a", 64) + ".com", strings.Repeat("a.", 127) + "com",
		"[::1]", "vscode.dev:443", "%31%32%37.0.0.1"}
	for _, h := range good {
		if !safehttp.ValidHost(h) {
			t.Errorf("ValidHost(%q) = false", h)
		}
	}
	for _, h := range bad {
		if safehttp.ValidHost(h) {
			t.Errorf("ValidHost(%q) = true", h)
		}
	}
}

// noNet returns options whose resolver and connector count their calls;
// tests that expect a refusal assert that nothing was dialled.
func noNet(resolve map[string][]string) (safehttp.Options, *atomic.Int32, *atomic.Int32) {
	var lookups, dials atomic.Int32
	r := safehttptest.Resolver(resolve)
	return safehttp.Options{
		Timeout: time.Second,
		LookupNetIP: func(ctx context.Context, network, host string) ([]netip.Addr, error) {
			lookups.Add(1)
			return r(ctx, network, host)
		},
		Connect: func(context.Context, string, netip.AddrPort) (net.Conn, error) {
			dials.Add(1)
			return nil, errors.New("test: dial not expected")
		},
	}, &lookups, &dials
}

func mustNew(t *testing.T, o safehttp.Options) *safehttp.Client {
	t.Helper()
	c, err := safehttp.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func kindOf(t *testing.T, err error) *safehttp.Error {
	t.Helper()
	var se *safehttp.Error
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *safehttp.Error", err, err)
	}
	return se
}

func TestBlockedTargets(t *testing.T) {
	resolve := map[string][]string{
		"loop.test":     {"127.0.0.1"},
		"internal.test": {"10.0.0.5"},
		"corp.test":     {"172.20.1.1"},
		"home.test":     {"192.168.0.10"},
		"cgnat.test":    {"100.64.3.4"},
		"meta.test":     {"169.254.169.254"},
		"mapped.test":   {"::ffff:127.0.0.1"},
		"mapmeta.test":  {"::ffff:169.254.169.254"},
		"v6loop.test":   {"::1"},
		"ula.test":      {"fd00::1"},
		"ll6.test":      {"fe80::1"},
		"nat64.test":    {"64:ff9b::a9fe:a9fe"},
		"6to4.test":     {"2002:7f00:1::1"},
		"mcast.test":    {"224.0.0.251"},
		"zero.test":     {"0.0.0.0"},
		"bcast.test":    {"255.255.255.255"},
		"doc.test":      {"192.0.2.10"},
		"bench.test":    {"198.18.0.1"},
		"mixed.test":    {"8.8.8.8", "10.0.0.1"},
	}
	cases := []struct {
		url  string
		kind safehttp.Kind
		cat  safehttp.Category
	}{
		{"http://127.0.0.1/", safehttp.KindBlockedAddress, safehttp.CatLoopback},
		{"http://127.0.0.1:8080/x", safehttp.KindBlockedAddress, safehttp.CatLoopback},
		{"http://[::1]/", safehttp.KindBlockedAddress, safehttp.CatLoopback},
		{"http://[::ffff:127.0.0.1]/", safehttp.KindBlockedAddress, safehttp.CatLoopback},
		{"http://169.254.169.254/latest/meta-data/", safehttp.KindBlockedAddress, safehttp.CatLinkLocal},
		{"http://[::ffff:169.254.169.254]/", safehttp.KindBlockedAddress, safehttp.CatLinkLocal},
		{"http://10.1.2.3/", safehttp.KindBlockedAddress, safehttp.CatPrivate},
		{"http://100.100.100.200/", safehttp.KindBlockedAddress, safehttp.CatSharedCGNAT},
		{"http://[fd00::1]/", safehttp.KindBlockedAddress, safehttp.CatPrivate},
		{"http://[fe80::1]/", safehttp.KindBlockedAddress, safehttp.CatLinkLocal},
		{"http://[64:ff9b::7f00:1]/", safehttp.KindBlockedAddress, safehttp.CatEmbedded},
		{"http://0.0.0.0/", safehttp.KindBlockedAddress, safehttp.CatUnspecified},
		{"https://loop.test/", safehttp.KindBlockedAddress, safehttp.CatLoopback},
		{"https://internal.test/", safehttp.KindBlockedAddress, safehttp.CatPrivate},
		{"https://corp.test/", safehttp.KindBlockedAddress, safehttp.CatPrivate},
		{"https://home.test/", safehttp.KindBlockedAddress, safehttp.CatPrivate},
		{"https://cgnat.test/", safehttp.KindBlockedAddress, safehttp.CatSharedCGNAT},
		{"https://meta.test/", safehttp.KindBlockedAddress, safehttp.CatLinkLocal},
		{"https://mapped.test/", safehttp.KindBlockedAddress, safehttp.CatLoopback},
		{"https://mapmeta.test/", safehttp.KindBlockedAddress, safehttp.CatLinkLocal},
		{"https://v6loop.test/", safehttp.KindBlockedAddress, safehttp.CatLoopback},
		{"https://ula.test/", safehttp.KindBlockedAddress, safehttp.CatPrivate},
		{"https://ll6.test/", safehttp.KindBlockedAddress, safehttp.CatLinkLocal},
		{"https://nat64.test/", safehttp.KindBlockedAddress, safehttp.CatEmbedded},
		{"https://6to4.test/", safehttp.KindBlockedAddress, safehttp.CatEmbedded},
		{"https://mcast.test/", safehttp.KindBlockedAddress, safehttp.CatMulticast},
		{"https://zero.test/", safehttp.KindBlockedAddress, safehttp.CatUnspecified},
		{"https://bcast.test/", safehttp.KindBlockedAddress, safehttp.CatBroadcast},
		{"https://doc.test/", safehttp.KindBlockedAddress, safehttp.CatDocumentation},
		{"https://bench.test/", safehttp.KindBlockedAddress, safehttp.CatBenchmarking},
		{"https://mixed.test/", safehttp.KindBlockedAddress, safehttp.CatPrivate},
		// Alternative IPv4 spellings never reach a resolver.
		{"http://2130706433/", safehttp.KindBadURL, ""},
		{"http://0177.0.0.1/", safehttp.KindBadURL, ""},
		{"http://0x7f.1/", safehttp.KindBadURL, ""},
		{"http://0x7f000001/", safehttp.KindBadURL, ""},
		{"http://127.1/", safehttp.KindBadURL, ""},
		{"http://127.0.0.01/", safehttp.KindBadURL, ""},
		{"http://[0:0:0:0:0:0:0:1]/", safehttp.KindBadURL, ""},
		{"http://[::ffff:7f00:1]/", safehttp.KindBadURL, ""},
		{"http://[fe80::1%25eth0]/", safehttp.KindBadURL, ""},
		{"http://%31%32%37.0.0.1/", safehttp.KindBadURL, ""},
		{"http://loop.test./", safehttp.KindBadURL, ""},
		{"http://vscodе.dev/", safehttp.KindBadURL, ""},
		{"http://user:pw@example.com/", safehttp.KindBadURL, ""},
		{"ftp://example.com/", safehttp.KindBadURL, ""},
		{"file:///etc/passwd", safehttp.KindBadURL, ""},
		{"gopher://example.com/", safehttp.KindBadURL, ""},
		{"//example.com/", safehttp.KindBadURL, ""},
		{"http:example.com", safehttp.KindBadURL, ""},
		{"http://example.com:0/", safehttp.KindBadURL, ""},
		{"http://example.com:99999/", safehttp.KindBadURL, ""},
		{"http://exa\tmple.com/", safehttp.KindBadURL, ""},
	}
	for _, c := range cases {
		t.Run(c.url, func(t *testing.T) {
			o, lookups, dials := noNet(resolve)
			cl := mustNew(t, o)
			_, err := cl.Get(context.Background(), c.url, safehttp.GetOptions{})
			se := kindOf(t, err)
			if se.Kind != c.kind || se.Category != c.cat {
				t.Fatalf("got kind %v category %q (%v), want %v %q", se.Kind, se.Category, err, c.kind, c.cat)
			}
			if dials.Load() != 0 {
				t.Fatal("a refused target was dialled")
			}
			if c.kind == safehttp.KindBadURL && lookups.Load() != 0 {
				t.Fatal("a refused host was resolved")
			}
			// The raw *http.Client applies the same rules.
			if _, err := url.Parse(c.url); err != nil {
				return
			}
			resp, err := cl.HTTPClient().Get(c.url)
			if err == nil {
				resp.Body.Close()
				t.Fatal("HTTPClient accepted the target")
			}
			if got := kindOf(t, err).Kind; got != c.kind {
				t.Fatalf("HTTPClient: kind %v, want %v: %v", got, c.kind, err)
			}
			if dials.Load() != 0 {
				t.Fatal("HTTPClient dialled a refused target")
			}
		})
	}
}

func TestEmptyPortRefused(t *testing.T) {
	o, lookups, _ := noNet(nil)
	_, err := mustNew(t, o).Get(context.Background(), "http://example.com:/", safehttp.GetOptions{})
	if kindOf(t, err).Kind != safehttp.KindBadURL || lookups.Load() != 0 {
		t.Fatalf("got %v", err)
	}
}

func TestAllowOptions(t *testing.T) {
	cases := []struct {
		opts    safehttp.Options
		addr    string
		allowed bool
	}{
		{safehttp.Options{}, "127.0.0.1", false},
		{safehttp.Options{AllowLoopback: true}, "127.0.0.1", true},
		{safehttp.Options{AllowLoopback: true}, "::1", true},
		{safehttp.Options{AllowLoopback: true}, "::ffff:127.0.0.1", true},
		{safehttp.Options{AllowLoopback: true}, "64:ff9b::7f00:1", false},
		{safehttp.Options{AllowLoopback: true}, "10.0.0.1", false},
		{safehttp.Options{AllowPrivate: true}, "10.0.0.1", true},
		{safehttp.Options{AllowPrivate: true}, "192.168.1.1", true},
		{safehttp.Options{AllowPrivate: true}, "fd00::1", true},
		{safehttp.Options{AllowPrivate: true}, "169.254.169.254", false},
		{safehttp.Options{AllowPrivate: true}, "100.64.0.1", false},
		{safehttp.Options{AllowPrivate: true}, "127.0.0.1", false},
		{safehttp.Options{AllowedPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, "127.0.0.1", true},
		{safehttp.Options{AllowedPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, "::ffff:127.0.0.1", true},
		{safehttp.Options{AllowedPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, "127.0.0.2", false},
		{safehttp.Options{}, "8.8.8.8", true},
	}
	for _, c := range cases {
		cl := mustNew(t, c.opts)
		a := netip.MustParseAddr(c.addr)
		if err := cl.CheckAddr(a); (err == nil) != c.allowed {
			t.Errorf("%+v CheckAddr(%s) = %v, want allowed=%v", c.opts, c.addr, err, c.allowed)
		}
		// The dialer's Control hook applies the same decision to the
		// address the socket actually connects to.
		if err := cl.Control("tcp", netip.AddrPortFrom(a, 443).String()); (err == nil) != c.allowed {
			t.Errorf("%+v Control(%s) = %v, want allowed=%v", c.opts, c.addr, err, c.allowed)
		}
	}
}

func TestNewValidates(t *testing.T) {
	bad := []safehttp.Options{
		{Timeout: -1},
		{MaxBytes: -1},
		{ResponseHeaderTimeout: -time.Second},
		{AllowedPrefixes: []netip.Prefix{{}}},
		{Proxy: mustURL("ftp://proxy.example")},
	}
	for _, o := range bad {
		if _, err := safehttp.New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

// vscode starts a TLS server playing vscode.dev and a client that reaches it.
func vscode(t *testing.T, h http.HandlerFunc, tweak func(*safehttp.Options)) (*safehttptest.Server, *safehttp.Client) {
	t.Helper()
	srv := safehttptest.NewTLSServer(t, h, "vscode.dev")
	o := srv.Options(map[string][]string{"vscode.dev": {"127.0.0.1"}})
	if tweak != nil {
		tweak(&o)
	}
	return srv, mustNew(t, o)
}

func TestGetOverTLS(t *testing.T) {
	var got http.Header
	srv, cl := vscode(t, func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		http.SetCookie(w, &http.Cookie{Name: "track", Value: "1"})
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write([]byte(`{"ok":true}`))
	}, nil)
	for i := range 2 {
		resp, err := cl.Get(context.Background(), "https://vscode.dev/oauth/client-metadata.json",
			safehttp.GetOptions{Accept: "application/json", RequireJSON: true})
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || string(resp.Body) != `{"ok":true}` {
			t.Fatalf("got %d %q", resp.StatusCode, resp.Body)
		}
		if got.Get("Accept") != "application/json" || got.Get("Accept-Encoding") != "gzip" ||
			got.Get("User-Agent") != safehttp.DefaultUserAgent {
			t.Fatalf("request headers %v", got)
		}
		if i == 1 && got.Get("Cookie") != "" {
			t.Fatal("cookie sent back")
		}
	}
	d := srv.Dialed()
	if len(d) == 0 || d[0] != netip.MustParseAddrPort("127.0.0.1:443") {
		t.Fatalf("dialled %v", d)
	}
}

func TestTLSVerified(t *testing.T) {
	// The server's certificate does not cover evil.test: the handshake
	// must fail even though the address is allowed.
	srv := safehttptest.NewTLSServer(t, http.NotFoundHandler(), "vscode.dev")
	cl := mustNew(t, srv.Options(map[string][]string{"evil.test": {"127.0.0.1"}}))
	_, err := cl.Get(context.Background(), "https://evil.test/", safehttp.GetOptions{})
	if se := kindOf(t, err); se.Kind != safehttp.KindTransport {
		t.Fatalf("kind %v: %v", se.Kind, err)
	}
}

// TestRebinding: the resolver answers with an allowed address first and
// with the metadata address afterwards. Each connection uses exactly one
// answer, checked, so the first fetch reaches the checked address and the
// second is refused without dialling.
func TestRebinding(t *testing.T) {
	srv := safehttptest.NewTLSServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}), "rebind.test")
	srv.Config.SetKeepAlivesEnabled(false)
	o := srv.Options(nil)
	var calls atomic.Int32
	o.LookupNetIP = func(context.Context, string, string) ([]netip.Addr, error) {
		if calls.Add(1) == 1 {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		}
		return []netip.Addr{netip.MustParseAddr("169.254.169.254")}, nil
	}
	cl := mustNew(t, o)
	if _, err := cl.Get(context.Background(), "https://rebind.test/", safehttp.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 {
		t.Fatalf("resolved %d times for one fetch; the dial must use the checked answer", calls.Load())
	}
	if d := srv.Dialed(); len(d) != 1 || d[0].Addr() != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("dialled %v", d)
	}
	_, err := cl.Get(context.Background(), "https://rebind.test/", safehttp.GetOptions{})
	se := kindOf(t, err)
	if se.Kind != safehttp.KindBlockedAddress || se.Addr != netip.MustParseAddr("169.254.169.254") {
		t.Fatalf("second fetch: %v", err)
	}
	if d := srv.Dialed(); len(d) != 1 {
		t.Fatalf("rebound address dialled: %v", d)
	}

	// Reverse order: a blocked first answer is final.
	calls.Store(0)
	o.LookupNetIP = func(context.Context, string, string) ([]netip.Addr, error) {
		if calls.Add(1) == 1 {
			return []netip.Addr{netip.MustParseAddr("10.0.0.1")}, nil
		}
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	cl = mustNew(t, o)
	_, err = cl.Get(context.Background(), "https://rebind.test/", safehttp.GetOptions{})
	if kindOf(t, err).Kind != safehttp.KindBlockedAddress {
		t.Fatalf("got %v", err)
	}
}

func TestStatusAndRedirect(t *testing.T) {
	var hitTarget atomic.Bool
	_, cl := vscode(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/target":
			hitTarget.Store(true)
			w.Write([]byte("{}"))
		case "/301", "/302", "/303", "/307", "/308":
			code := map[string]int{"/301": 301, "/302": 302, "/303": 303, "/307": 307, "/308": 308}[r.URL.Path]
			http.Redirect(w, r, "https://vscode.dev/target", code)
		case "/304":
			w.WriteHeader(http.StatusNotModified)
		case "/500":
			http.Error(w, "SECRET-BODY stack trace", 500)
		case "/204":
			w.WriteHeader(204)
		default:
			http.Error(w, "SECRET-BODY not here", 404)
		}
	}, nil)
	cases := []struct {
		path   string
		kind   safehttp.Kind
		status int
	}{
		{"/301", safehttp.KindRedirect, 301},
		{"/302", safehttp.KindRedirect, 302},
		{"/303", safehttp.KindRedirect, 303},
		{"/307", safehttp.KindRedirect, 307},
		{"/308", safehttp.KindRedirect, 308},
		{"/304", safehttp.KindStatus, 304},
		{"/404", safehttp.KindStatus, 404},
		{"/500", safehttp.KindStatus, 500},
		{"/204", safehttp.KindStatus, 204},
	}
	for _, c := range cases {
		_, err := cl.Get(context.Background(), "https://vscode.dev"+c.path, safehttp.GetOptions{})
		se := kindOf(t, err)
		if se.Kind != c.kind || se.StatusCode != c.status {
			t.Errorf("%s: %v", c.path, err)
		}
		if strings.Contains(err.Error(), "SECRET-BODY") {
			t.Errorf("%s: error leaks body: %v", c.path, err)
		}
	}
	if hitTarget.Load() {
		t.Fatal("a redirect was followed")
	}
	resp, err := cl.Get(context.Background(), "https://vscode.dev/304", safehttp.GetOptions{AllowNotModified: true})
	if err != nil || resp.StatusCode != 304 || len(resp.Body) != 0 {
		t.Fatalf("304 allowed: %v %v", resp, err)
	}
}

func TestBodyCap(t *testing.T) {
	body := bytes.Repeat([]byte("a"), 101)
	_, cl := vscode(t, func(w http.ResponseWriter, r *http.Request) {
		n := len(body)
		if r.URL.Path == "/100" {
			n = 100
		}
		if r.URL.Path == "/chunked" {
			w.Write(body[:50])
			w.(http.Flusher).Flush()
			w.Write(body[50:])
			return
		}
		w.Write(body[:n])
	}, nil)
	if r, err := cl.Get(context.Background(), "https://vscode.dev/100", safehttp.GetOptions{MaxBytes: 100}); err != nil || len(r.Body) != 100 {
		t.Fatalf("body at the cap refused: %v", err)
	}
	for _, p := range []string{"/101", "/chunked"} {
		_, err := cl.Get(context.Background(), "https://vscode.dev"+p, safehttp.GetOptions{MaxBytes: 100})
		if kindOf(t, err).Kind != safehttp.KindTooLarge {
			t.Errorf("%s: %v", p, err)
		}
		if strings.Contains(err.Error(), "aaaa") {
			t.Errorf("%s: error leaks body", p)
		}
	}
}

func TestSlowBodyTimesOut(t *testing.T) {
	_, cl := vscode(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"client_id":`))
		w.(http.Flusher).Flush()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
				w.Write([]byte(" "))
				w.(http.Flusher).Flush()
			}
		}
	}, func(o *safehttp.Options) { o.Timeout = 200 * time.Millisecond })
	start := time.Now()
	_, err := cl.Get(context.Background(), "https://vscode.dev/slow", safehttp.GetOptions{})
	if kindOf(t, err).Kind != safehttp.KindTimeout || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("timeout took %v", el)
	}
}

func TestSlowHeadersTimeOut(t *testing.T) {
	_, cl := vscode(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(3 * time.Second):
		}
	}, func(o *safehttp.Options) { o.ResponseHeaderTimeout = 100 * time.Millisecond })
	start := time.Now()
	_, err := cl.Get(context.Background(), "https://vscode.dev/", safehttp.GetOptions{})
	if kindOf(t, err).Kind != safehttp.KindTimeout {
		t.Fatalf("got %v", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("took %v", el)
	}
}

func TestCallerCancel(t *testing.T) {
	_, cl := vscode(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, nil)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := cl.Get(ctx, "https://vscode.dev/", safehttp.GetOptions{})
	if se := kindOf(t, err); se.Kind != safehttp.KindTransport || !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

func gz(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return buf.Bytes()
}

func TestGzip(t *testing.T) {
	small := gz(t, []byte(`{"a":"`+strings.Repeat("x", 4000)+`"}`))
	over := gz(t, bytes.Repeat([]byte(" "), 6000))
	// 64 gzip members of 1 MiB zeros each: 64 MiB decompressed, ~64 KiB sent.
	bomb := bytes.Repeat(gz(t, make([]byte, 1<<20)), 64)
	var served atomic.Int64
	_, cl := vscode(t, func(w http.ResponseWriter, r *http.Request) {
		var b []byte
		switch r.URL.Path {
		case "/small":
			b = small
		case "/over":
			b = over
		case "/bomb":
			b = bomb
		case "/corrupt":
			b = append([]byte{}, small...)
			b[len(b)/2] ^= 0xff
		case "/br":
			w.Header().Set("Content-Encoding", "br")
			w.Write([]byte("xx"))
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Type", "application/json")
		n, _ := w.Write(b)
		served.Add(int64(n))
	}, nil)
	get := func(p string) (*safehttp.Response, error) {
		return cl.Get(context.Background(), "https://vscode.dev"+p, safehttp.GetOptions{MaxBytes: 5000})
	}
	if len(small) >= 5000 && len(over) >= 5000 {
		t.Fatal("test payloads not compressed")
	}
	r, err := get("/small")
	if err != nil || len(r.Body) != 4008 {
		t.Fatalf("small gzip: %v", err)
	}
	if _, err := get("/over"); kindOf(t, err).Kind != safehttp.KindTooLarge {
		t.Fatalf("cap not applied after decompression: %v", err)
	}
	start := time.Now()
	if _, err := get("/bomb"); kindOf(t, err).Kind != safehttp.KindTooLarge {
		t.Fatalf("bomb: %v", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("bomb took %v", el)
	}
	if _, err := get("/corrupt"); kindOf(t, err).Kind != safehttp.KindTransport {
		t.Fatalf("corrupt: %v", err)
	}
	if _, err := get("/br"); kindOf(t, err).Kind != safehttp.KindTransport {
		t.Fatalf("br: %v", err)
	}
}

func TestRequireJSON(t *testing.T) {
	_, cl := vscode(t, func(w http.ResponseWriter, r *http.Request) {
		if ct := r.URL.Query().Get("ct"); ct != "-" {
			w.Header().Set("Content-Type", ct)
		} else {
			w.Header()["Content-Type"] = nil
		}
		w.Write([]byte(`{}`))
	}, nil)
	cases := []struct {
		ct string
		ok bool
	}{
		{"application/json", true},
		{"application/json; charset=utf-8", true},
		{"Application/JSON", true},
		{"application/jwk-set+json", true},
		{"application/oauth-client+json", true},
		{"text/html", false},
		{"text/html; charset=utf-8", false},
		{"text/json", false},
		{"application/+json", false},
		{"application/json-seq", false},
		{"application/jsonx", false},
		{"application/octet-stream", false},
		{"-", false},
		{"application/json; =broken", false},
	}
	for _, c := range cases {
		u := "https://vscode.dev/?ct=" + url.QueryEscape(c.ct)
		_, err := cl.Get(context.Background(), u, safehttp.GetOptions{RequireJSON: true})
		if (err == nil) != c.ok {
			t.Errorf("%q: %v", c.ct, err)
		}
		if err != nil && kindOf(t, err).Kind != safehttp.KindContentType {
			t.Errorf("%q: kind %v", c.ct, err)
		}
	}
	if !safehttp.IsJSONContentType("application/json") || safehttp.IsJSONContentType("text/plain") {
		t.Error("IsJSONContentType")
	}
}

func TestErrorStrings(t *testing.T) {
	e := &safehttp.Error{Kind: safehttp.KindTransport, URL: "https://x.test/", Detail: "request failed",
		Err: errors.New("malformed HTTP response \"\x1b[31mevil\nline\"")}
	s := e.Error()
	if strings.ContainsAny(s, "\x1b\n") {
		t.Fatalf("control characters in %q", s)
	}
	for k := safehttp.KindBadURL; k <= safehttp.KindTransport; k++ {
		if k.String() == "unknown" {
			t.Errorf("kind %d has no name", k)
		}
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func TestFetchWithHTTPClient(t *testing.T) {
	var hitTarget atomic.Bool
	srv, cl := vscode(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/target":
			hitTarget.Store(true)
		case "/redirect":
			http.Redirect(w, r, "/target", http.StatusFound)
		case "/slow":
			<-r.Context().Done()
		default:
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{}`))
		}
	}, nil)
	hc := cl.HTTPClient()
	r, err := safehttp.Fetch(context.Background(), hc, "https://vscode.dev/doc", safehttp.GetOptions{RequireJSON: true})
	if err != nil || string(r.Body) != "{}" {
		t.Fatalf("Fetch: %v", err)
	}
	if _, err := safehttp.Fetch(context.Background(), hc, "https://vscode.dev/redirect", safehttp.GetOptions{}); kindOf(t, err).Kind != safehttp.KindRedirect {
		t.Fatalf("redirect: %v", err)
	}
	if hitTarget.Load() {
		t.Fatal("Fetch followed a redirect")
	}
	if _, err := safehttp.Fetch(context.Background(), hc, "https://0x7f.1/", safehttp.GetOptions{}); kindOf(t, err).Kind != safehttp.KindBadURL {
		t.Fatalf("bad host: %v", err)
	}
	start := time.Now()
	if _, err := safehttp.Fetch(context.Background(), hc, "https://vscode.dev/slow", safehttp.GetOptions{Timeout: 100 * time.Millisecond}); kindOf(t, err).Kind != safehttp.KindTimeout {
		t.Fatalf("timeout: %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("GetOptions.Timeout ignored")
	}
	// The address policy lives in hc's dialer: the safe client's still
	// refuses what resolves to a blocked address.
	_ = srv
	o, _, dials := noNet(map[string][]string{"meta.test": {"169.254.169.254"}})
	_, err = safehttp.Fetch(context.Background(), mustNew(t, o).HTTPClient(), "http://meta.test/", safehttp.GetOptions{})
	if kindOf(t, err).Kind != safehttp.KindBlockedAddress || dials.Load() != 0 {
		t.Fatalf("blocked: %v", err)
	}
}

func TestProxyEnvironmentIgnored(t *testing.T) {
	t.Setenv("HTTPS_PROXY", "http://192.0.2.1:3128")
	t.Setenv("HTTP_PROXY", "http://192.0.2.1:3128")
	srv, cl := vscode(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("direct")) }, nil)
	r, err := cl.Get(context.Background(), "https://vscode.dev/", safehttp.GetOptions{})
	if err != nil || string(r.Body) != "direct" {
		t.Fatalf("%v", err)
	}
	for _, ap := range srv.Dialed() {
		if ap != netip.MustParseAddrPort("127.0.0.1:443") {
			t.Fatalf("dialled %v", ap)
		}
	}
}

func TestConfiguredProxy(t *testing.T) {
	// A forward proxy for plain http on loopback: reachable although
	// loopback is blocked, because the operator configured it.
	var seen atomic.Value
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.URL.String())
		w.Write([]byte("via proxy"))
	}))
	defer proxy.Close()
	o, lookups, _ := noNet(nil)
	o.Connect = nil
	o.Proxy = mustURL(proxy.URL)
	cl := mustNew(t, o)
	r, err := cl.Get(context.Background(), "http://docs.example.com/client.json", safehttp.GetOptions{})
	if err != nil || string(r.Body) != "via proxy" || seen.Load() != "http://docs.example.com/client.json" {
		t.Fatalf("%v %v", err, seen.Load())
	}
	if lookups.Load() != 0 {
		t.Fatal("target resolved locally although a proxy is configured")
	}
	// IP literal targets are still checked here.
	_, err = cl.Get(context.Background(), "http://169.254.169.254/latest/meta-data/", safehttp.GetOptions{})
	if kindOf(t, err).Kind != safehttp.KindBlockedAddress {
		t.Fatalf("got %v", err)
	}
	// Without the proxy, the same loopback address is refused.
	o.Proxy = nil
	_, err = mustNew(t, o).Get(context.Background(), proxy.URL, safehttp.GetOptions{})
	if kindOf(t, err).Kind != safehttp.KindBlockedAddress {
		t.Fatalf("got %v", err)
	}
}
