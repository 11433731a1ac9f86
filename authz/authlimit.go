package authz

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"

	"github.com/nqrust/identity/storage"
)

// Defaults of AuthFailureLimit.
const (
	DefaultAuthFailureBurst = 20
	DefaultAuthFailureEvery = 3 * time.Second

	// authLimitEntries bounds each table of limiters (client_ids and
	// addresses); the least recently failing are forgotten first.
	authLimitEntries = 10_000
)

// AuthFailureLimit limits failed client authentications at the token,
// revocation and introspection endpoints, so that client secrets and
// client_ids cannot be guessed at speed (OAuth 2.1 §2.4.1, RFC 6749
// §2.3.1). Only failures count: a client_id, and separately a client
// address, may fail Burst times at once and then once every Every. Past
// that every attempt for that client_id or from that address is answered,
// without looking at its credentials, with HTTP 429, a Retry-After header
// and the JSON error invalid_client ("Too many failed client
// authentications"), until the allowance refills. Clients read the code
// as any invalid_client; MCP clients that registered dynamically may
// register again, which gives them a new client_id.
//
// The zero value is on, with the defaults.
type AuthFailureLimit struct {
	// Disabled turns the limit off (for a gateway in front that limits
	// already).
	Disabled bool
	// Burst is how many failures are allowed at once; 0 means
	// DefaultAuthFailureBurst (20).
	Burst int
	// Every is how fast the allowance refills, one failure per Every; 0
	// means DefaultAuthFailureEvery (3 s, twenty a minute).
	Every time.Duration
	// ClientAddress returns the address of the client of a request. Nil
	// means the IP address of r.RemoteAddr. Behind a reverse proxy every
	// request comes from the proxy: return the address the proxy vouches
	// for (such as the last X-Forwarded-For entry your own proxy added),
	// or the zero netip.Addr to limit by client_id only. IPv6 addresses
	// are limited by their /64 prefix, which one host usually holds whole.
	ClientAddress func(r *http.Request) netip.Addr
}

// authLimiter holds the limiters of AuthFailureLimit. A nil *authLimiter
// limits nothing.
type authLimiter struct {
	burst   int
	every   time.Duration
	address func(*http.Request) netip.Addr
	// byClient is keyed by the digest of the client_id: fixed-size keys
	// whatever the length of the (attacker-chosen) client_ids.
	byClient *lru.Cache[storage.Hash, *rate.Limiter]
	byAddr   *lru.Cache[netip.Addr, *rate.Limiter]
}

func newAuthLimiter(c AuthFailureLimit) (*authLimiter, error) {
	if c.Disabled {
		return nil, nil
	}
	l := &authLimiter{burst: c.Burst, every: c.Every, address: c.ClientAddress}
	if l.burst == 0 {
		l.burst = DefaultAuthFailureBurst
	}
	if l.every == 0 {
		l.every = DefaultAuthFailureEvery
	}
	if l.burst < 1 || l.burst > 10_000 || l.every < time.Millisecond || l.every > 24*time.Hour {
		return nil, errors.New("authz: Config.AuthFailureLimit needs a Burst between 1 and 10000 and Every between 1 ms and 24 h")
	}
	var err error
	if l.byClient, err = lru.New[storage.Hash, *rate.Limiter](authLimitEntries); err != nil {
		return nil, fmt.Errorf("authz: %w", err)
	}
	if l.byAddr, err = lru.New[netip.Addr, *rate.Limiter](authLimitEntries); err != nil {
		return nil, fmt.Errorf("authz: %w", err)
	}
	return l, nil
}

// authAttempt is one client authentication as the limiter sees it.
type authAttempt struct {
	addr netip.Addr
	// clientID is the client_id claimed, once known.
	clientID string
}

// start identifies the client address of r and refuses the attempt when
// that address has failed too often.
func (l *authLimiter) start(r *http.Request, now time.Time) (authAttempt, error) {
	if l == nil {
		return authAttempt{}, nil
	}
	var a authAttempt
	if l.address != nil {
		a.addr = l.address(r)
	} else if r.RemoteAddr != "" {
		// net/http sets "ip:port"; anything else (a test's empty value,
		// a Unix socket) has no address to limit by.
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
			a.addr = ap.Addr()
		}
	}
	a.addr = a.addr.Unmap()
	if a.addr.Is6() {
		if p, err := a.addr.Prefix(64); err == nil {
			a.addr = p.Addr()
		}
	}
	if a.addr.IsValid() {
		if lim, ok := l.byAddr.Peek(a.addr); ok {
			if err := l.refusal(lim, now); err != nil {
				return a, err
			}
		}
	}
	return a, nil
}

// claim records the client_id an attempt is for and refuses it when that
// client_id has failed too often. It runs before the client is looked up
// or its credentials are checked, so a refused attempt learns nothing.
func (l *authLimiter) claim(a *authAttempt, clientID string, now time.Time) error {
	if l == nil {
		return nil
	}
	a.clientID = clientID
	if lim, ok := l.byClient.Peek(hashOf(clientID)); ok {
		return l.refusal(lim, now)
	}
	return nil
}

// refusal returns the 429 error when lim has no failure left.
func (l *authLimiter) refusal(lim *rate.Limiter, now time.Time) error {
	tokens := lim.TokensAt(now)
	if tokens >= 1 {
		return nil
	}
	wait := time.Duration((1 - tokens) * float64(l.every))
	return &Error{
		Code:        ErrCodeInvalidClient,
		Description: "Too many failed client authentications; try again later.",
		Status:      http.StatusTooManyRequests,
		retryAfter:  wait,
	}
}

// failed counts an attempt whose authentication failed (invalid_client)
// against its address and its client_id.
func (l *authLimiter) failed(a *authAttempt, err error, now time.Time) {
	if l == nil {
		return
	}
	var oe *Error
	if !errors.As(err, &oe) || oe.Code != ErrCodeInvalidClient || oe.Status == http.StatusTooManyRequests {
		return
	}
	if a.addr.IsValid() {
		limiterFor(l, l.byAddr, a.addr).AllowN(now, 1)
	}
	if a.clientID != "" {
		limiterFor(l, l.byClient, hashOf(a.clientID)).AllowN(now, 1)
	}
}

func limiterFor[K comparable](l *authLimiter, c *lru.Cache[K, *rate.Limiter], key K) *rate.Limiter {
	if lim, ok := c.Get(key); ok {
		return lim
	}
	lim := rate.NewLimiter(rate.Every(l.every), l.burst)
	if prev, ok, _ := c.PeekOrAdd(key, lim); ok {
		return prev
	}
	return lim
}

// retryAfterValue formats a Retry-After delay in whole seconds, rounded up
// and at least one.
func retryAfterValue(d time.Duration) string {
	return strconv.FormatInt(max(1, int64(math.Ceil(d.Seconds()))), 10)
}
