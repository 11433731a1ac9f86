package authz

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
)

// limitEnv is a server whose failure limit is 3 failures, refilling one
// per 10 s, and whose client address comes from the X-Test-Addr header.
func limitEnv(t *testing.T, mutate ...func(*Config)) *env {
	return newEnv(t, append([]func(*Config){func(c *Config) {
		c.AuthFailureLimit = AuthFailureLimit{Burst: 3, Every: 10 * time.Second, ClientAddress: func(r *http.Request) netip.Addr {
			a, _ := netip.ParseAddr(r.Header.Get("X-Test-Addr"))
			return a
		}}
	}}, mutate...)...)
}

type limitReply struct {
	status     int
	err, desc  string
	retryAfter string
	noStore    bool
}

// postFrom posts a form to path as if from addr, with optional Basic
// credentials.
func (e *env) postFrom(addr, path string, form url.Values, basicID, basicSecret string) limitReply {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Test-Addr", addr)
	if basicID != "" {
		req.SetBasicAuth(url.QueryEscape(basicID), url.QueryEscape(basicSecret))
	}
	resp, err := noFollow.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return limitReply{resp.StatusCode, body.Error, body.Description, resp.Header.Get("Retry-After"), resp.Header.Get("Cache-Control") == "no-store"}
}

var ccForm = url.Values{"grant_type": {"client_credentials"}, "resource": {testResource}}

func (r limitReply) limited() bool {
	return r.status == http.StatusTooManyRequests && r.err == ErrCodeInvalidClient && r.noStore &&
		strings.Contains(r.desc, "Too many failed client authentications")
}

func TestAuthFailureLimitPerClient(t *testing.T) {
	e := limitEnv(t)
	// Three wrong secrets for conf-client, each from another address.
	for i, addr := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
		if r := e.postFrom(addr, "/token", ccForm, confID, "wrong-secret-0123456789"); r.status != http.StatusUnauthorized || r.err != ErrCodeInvalidClient {
			t.Fatalf("failure %d: %+v", i, r)
		}
	}
	// The fourth attempt is refused whatever its secret: a guess that
	// happens to be right learns nothing.
	r := e.postFrom("192.0.2.4", "/token", ccForm, confID, confSecret)
	if !r.limited() || r.retryAfter != "10" {
		t.Fatalf("right secret past the limit: %+v", r)
	}
	if r := e.postFrom("192.0.2.4", "/token", ccForm, confID, "wrong-secret-0123456789"); !r.limited() {
		t.Fatalf("wrong secret past the limit: %+v", r)
	}
	// Revocation and introspection share the limit.
	if r := e.postFrom("192.0.2.5", "/revoke", url.Values{"token": {"x"}}, confID, confSecret); !r.limited() {
		t.Fatalf("revocation past the limit: %+v", r)
	}
	if r := e.postFrom("192.0.2.5", "/introspect", url.Values{"token": {"x"}}, confID, confSecret); !r.limited() {
		t.Fatalf("introspection past the limit: %+v", r)
	}
	// Another client from the same address is not affected.
	if r := e.postFrom("192.0.2.4", "/token", ccForm, rsID, rsSecret); r.status != http.StatusOK {
		t.Fatalf("another client: %+v", r)
	}
	// Refused attempts do not count: one Every later, one attempt.
	e.clock.Advance(5 * time.Second)
	if r := e.postFrom("192.0.2.4", "/token", ccForm, confID, confSecret); !r.limited() || r.retryAfter != "5" {
		t.Fatalf("half-way: %+v", r)
	}
	e.clock.Advance(5 * time.Second)
	if r := e.postFrom("192.0.2.4", "/token", ccForm, confID, confSecret); r.status != http.StatusOK {
		t.Fatalf("after refill: %+v", r)
	}
	// Successes do not use the allowance up…
	for range 5 {
		if r := e.postFrom("192.0.2.4", "/token", ccForm, confID, confSecret); r.status != http.StatusOK {
			t.Fatalf("success after refill: %+v", r)
		}
	}
	// …a failure does.
	if r := e.postFrom("192.0.2.4", "/token", ccForm, confID, "wrong-secret-0123456789"); r.status != http.StatusUnauthorized {
		t.Fatalf("failure after refill: %+v", r)
	}
	if r := e.postFrom("192.0.2.6", "/token", ccForm, confID, confSecret); !r.limited() {
		t.Fatalf("after another failure: %+v", r)
	}
}

func TestAuthFailureLimitPerAddress(t *testing.T) {
	e := limitEnv(t)
	const attacker = "198.51.100.7"
	// Guessing client_ids: unknown clients, a public client asked for a
	// secret method it does not use, a wrong client_secret_post.
	for i, try := range []func() limitReply{
		func() limitReply { return e.postFrom(attacker, "/token", ccForm, "guess-1", "secret-secret-secret") },
		func() limitReply {
			return e.postFrom(attacker, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {"guess-2"}}, "", "")
		},
		func() limitReply {
			return e.postFrom(attacker, "/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {postID}, "client_secret": {"nope-nope-nope-nope"}}, "", "")
		},
	} {
		if r := try(); r.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %+v", i, r)
		}
	}
	if r := e.postFrom(attacker, "/token", ccForm, rsID, rsSecret); !r.limited() {
		t.Fatalf("good credentials from the address past its limit: %+v", r)
	}
	if r := e.postFrom("198.51.100.8", "/token", ccForm, rsID, rsSecret); r.status != http.StatusOK {
		t.Fatalf("the same client from another address: %+v", r)
	}
	// IPv6 hosts are limited by /64.
	for i := range 3 {
		if r := e.postFrom("2001:db8:1:2::"+string(rune('a'+i)), "/token", ccForm, "guess-v6-"+string(rune('a'+i)), "secret-secret-secret"); r.status != http.StatusUnauthorized {
			t.Fatalf("IPv6 failure %d: %+v", i, r)
		}
	}
	if r := e.postFrom("2001:db8:1:2:ffff::1", "/token", ccForm, rsID, rsSecret); !r.limited() {
		t.Fatalf("another address of the same /64: %+v", r)
	}
	if r := e.postFrom("2001:db8:1:3::1", "/token", ccForm, rsID, rsSecret); r.status != http.StatusOK {
		t.Fatalf("another /64: %+v", r)
	}
	// Not every refusal is an authentication failure.
	for range 5 {
		if r := e.postFrom("203.0.113.1", "/token", url.Values{"grant_type": {"password"}}, "", ""); r.status != http.StatusBadRequest {
			t.Fatalf("unsupported grant type: %+v", r)
		}
	}
	if r := e.postFrom("203.0.113.1", "/token", ccForm, rsID, rsSecret); r.status != http.StatusOK {
		t.Fatalf("after non-authentication errors: %+v", r)
	}
}

func TestAuthFailureLimitDefaultAddressAndOff(t *testing.T) {
	// By default the address is the IP of RemoteAddr: the test client is
	// 127.0.0.1 and fails 20 times, then any client is refused from there.
	e := newEnv(t)
	for i := range DefaultAuthFailureBurst {
		if r := e.postFrom("", "/token", ccForm, "guess-"+string(rune('a'+i)), "secret-secret-secret"); r.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %+v", i, r)
		}
	}
	if r := e.postFrom("", "/token", ccForm, rsID, rsSecret); !r.limited() || r.retryAfter != "3" {
		t.Fatalf("past the default limit: %+v", r)
	}

	off := newEnv(t, func(c *Config) { c.AuthFailureLimit.Disabled = true })
	for i := range 3 * DefaultAuthFailureBurst {
		if r := off.postFrom("", "/token", ccForm, rsID, "wrong-wrong-wrong-wrong"); r.status != http.StatusUnauthorized {
			t.Fatalf("disabled limit, failure %d: %+v", i, r)
		}
	}
	if r := off.postFrom("", "/token", ccForm, rsID, rsSecret); r.status != http.StatusOK {
		t.Fatalf("disabled limit: %+v", r)
	}
}

func TestAuthFailureLimitAddresses(t *testing.T) {
	l, err := newAuthLimiter(AuthFailureLimit{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ remote, want string }{
		{"192.0.2.1:443", "192.0.2.1"},
		{"[::ffff:192.0.2.1]:443", "192.0.2.1"},
		{"[2001:db8:aa:bb:1:2:3:4]:443", "2001:db8:aa:bb::"},
		{"[fe80::1%eth0]:443", "fe80::"},
		{"", "invalid IP"},
		{"@", "invalid IP"},
		{"192.0.2.1", "invalid IP"},
	} {
		r := httptest.NewRequest(http.MethodPost, "/token", nil)
		r.RemoteAddr = tc.remote
		a, err := l.start(r, time.Now())
		if err != nil || a.addr.String() != tc.want {
			t.Errorf("%q: %v %v, want %s", tc.remote, a.addr, err, tc.want)
		}
	}
	for _, bad := range []AuthFailureLimit{{Burst: -1}, {Every: -time.Second}, {Burst: 100_000}, {Every: 48 * time.Hour}} {
		if _, err := newAuthLimiter(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
