package bearer

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/nqrust/identity/metadata"
)

// IntrospectionConfig configures an [IntrospectionVerifier]. Endpoint,
// ClientID, ClientSecret and Resource are required.
type IntrospectionConfig struct {
	// Endpoint is the authorization server's RFC 7662 introspection
	// endpoint (https; http only for loopback hosts).
	Endpoint string
	// ClientID and ClientSecret are this resource server's credentials at
	// the authorization server, sent with client_secret_basic (RFC 6749
	// §2.3.1). Introspection requires caller authentication (RFC 7662 §2.1).
	ClientID, ClientSecret string
	// Resource is this resource server's resource identifier; the
	// response's "aud" must contain it (compared as in [Config.Resource]).
	Resource string
	// AllowMissingAudience accepts active tokens whose introspection
	// response has no "aud" member. Off by default: without an audience
	// nothing shows the token was meant for this resource (RFC 8707).
	AllowMissingAudience bool
	// Issuer, if set, must equal the response's "iss" byte for byte.
	Issuer string
	// HTTPClient calls Endpoint. Nil means a client like
	// http.DefaultClient. It is copied and the copy refuses redirects.
	// Every call is bounded to 10 s, whatever the client's own Timeout; a
	// shorter Timeout, or the deadline of the request's context, applies
	// too.
	HTTPClient *http.Client
	// CacheTTL bounds how long an active result is reused; an entry also
	// dies at the token's "exp" (RFC 7662 §4). Keep it short: a revoked
	// token stays usable here for up to CacheTTL. Zero means 1 minute.
	// Inactive results are reused for at most 10 seconds, which absorbs
	// floods of bad tokens without hiding anything.
	CacheTTL time.Duration
	// CacheSize bounds the result cache. Zero means 10 000 entries.
	CacheSize int
	// DisableCache makes every request call the endpoint.
	DisableCache bool
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// Logger receives diagnostics (never tokens); nil discards them.
	Logger *slog.Logger
}

// Limits of the introspection client.
const (
	maxIntrospectionBytes = 64 << 10
	// introspectionTimeout bounds every call, on top of the HTTP client's
	// own Timeout and the caller's context.
	introspectionTimeout     = 10 * time.Second
	defaultIntrospectionTTL  = time.Minute
	maxNegativeIntrospection = 10 * time.Second
)

// IntrospectionVerifier verifies tokens by asking the authorization server
// (RFC 7662), for opaque tokens or JWTs this resource server cannot verify
// itself. It is safe for concurrent use.
type IntrospectionVerifier struct {
	endpoint      string
	authorization string
	resource      string
	issuer        string
	allowNoAud    bool
	client        *http.Client
	clock         func() time.Time
	log           *slog.Logger
	cache         *tokenCache
	group         singleflight.Group
}

var _ TokenVerifier = (*IntrospectionVerifier)(nil)

// NewIntrospectionVerifier validates cfg and returns a verifier.
func NewIntrospectionVerifier(cfg IntrospectionConfig) (*IntrospectionVerifier, error) {
	if err := checkURL("IntrospectionConfig.Endpoint", cfg.Endpoint); err != nil {
		return nil, err
	}
	if err := checkURL("IntrospectionConfig.Resource", cfg.Resource); err != nil {
		return nil, err
	}
	if _, err := metadata.CanonicalResource(cfg.Resource); err != nil {
		return nil, fmt.Errorf("bearer: IntrospectionConfig.Resource: %w", err)
	}
	if cfg.Issuer != "" {
		if err := checkURL("IntrospectionConfig.Issuer", cfg.Issuer); err != nil {
			return nil, err
		}
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("bearer: IntrospectionConfig.ClientID and ClientSecret are required")
	}
	if cfg.CacheTTL < 0 || cfg.CacheSize < 0 {
		return nil, errors.New("bearer: negative introspection cache TTL or size (use DisableCache)")
	}
	// RFC 6749 §2.3.1: form-encode both parts before Basic encoding.
	cred := url.QueryEscape(cfg.ClientID) + ":" + url.QueryEscape(cfg.ClientSecret)
	v := &IntrospectionVerifier{
		endpoint:      cfg.Endpoint,
		authorization: "Basic " + base64.StdEncoding.EncodeToString([]byte(cred)),
		resource:      cfg.Resource,
		issuer:        cfg.Issuer,
		allowNoAud:    cfg.AllowMissingAudience,
		client:        noRedirectClient(cfg.HTTPClient),
		clock:         cfg.Clock,
		log:           cfg.Logger,
	}
	if v.clock == nil {
		v.clock = time.Now
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	if !cfg.DisableCache {
		size := cfg.CacheSize
		if size == 0 {
			size = defaultCacheSize
		}
		c, err := newTokenCache(size, orDefault(cfg.CacheTTL, defaultIntrospectionTTL))
		if err != nil {
			return nil, fmt.Errorf("bearer: introspection cache: %w", err)
		}
		v.cache = c
	}
	return v, nil
}

// introspection is the part of an RFC 7662 §2.2 response the verifier
// reads.
type introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope"`
	ClientID  string   `json:"client_id"`
	TokenType string   `json:"token_type"`
	TokenUse  string   `json:"token_use"`
	Expiry    float64  `json:"exp"`
	IssuedAt  float64  `json:"iat"`
	NotBefore float64  `json:"nbf"`
	AuthTime  float64  `json:"auth_time"`
	Subject   string   `json:"sub"`
	Audience  audience `json:"aud"`
	Issuer    string   `json:"iss"`
	ID        string   `json:"jti"`
	// Confirmation is "cnf": the token is sender-constrained.
	Confirmation json.RawMessage `json:"cnf"`
}

// inactiveInfo marks a cached inactive result.
var inactiveInfo = &TokenInfo{}

// Verify asks the introspection endpoint about token (or reuses a recent
// answer) and checks that it is active, is an access token, names this
// resource in "aud", comes from the configured issuer (if any) and has
// not expired. Errors match [ErrInvalidToken] or [ErrUnavailable].
func (v *IntrospectionVerifier) Verify(ctx context.Context, token string) (*TokenInfo, error) {
	if token == "" || len(token) > maxTokenBytes {
		return nil, invalid(ReasonMalformed, "token empty or too long")
	}
	d := digestOf(token)
	if v.cache != nil {
		if info, ok := v.cache.get(d, v.clock().UnixNano()); ok {
			if info == inactiveInfo {
				return nil, invalid(ReasonInactive, "")
			}
			if err := v.check(info, v.clock()); err != nil {
				return nil, err
			}
			return info, nil
		}
	}
	// Identical concurrent requests share one call. The key is the digest,
	// never the token.
	ch := v.group.DoChan(string(d[:]), func() (any, error) {
		return v.introspect(context.WithoutCancel(ctx), token, d)
	})
	var res singleflight.Result
	select {
	case res = <-ch:
	case <-ctx.Done():
		return nil, unavailable("waiting for introspection", ctx.Err())
	}
	if res.Err != nil {
		return nil, res.Err
	}
	return res.Val.(*TokenInfo), nil
}

func (v *IntrospectionVerifier) introspect(ctx context.Context, token string, d tokenDigest) (*TokenInfo, error) {
	body, err := v.call(ctx, token)
	if err != nil {
		v.log.LogAttrs(ctx, slog.LevelWarn, "bearer: introspection failed", slog.String("endpoint", v.endpoint), slog.Any("error", err))
		return nil, unavailable("introspection", err)
	}
	r := introspection{Expiry: nan(), IssuedAt: nan(), NotBefore: nan(), AuthTime: nan()}
	if err := json.Unmarshal(body, &r); err != nil {
		v.log.LogAttrs(ctx, slog.LevelWarn, "bearer: introspection response is not valid JSON", slog.String("endpoint", v.endpoint))
		return nil, unavailable("introspection response is not a valid JSON object", nil)
	}
	now := v.clock()
	if !r.Active {
		if v.cache != nil {
			v.cache.add(d, inactiveInfo, now.UnixNano(), now.Add(maxNegativeIntrospection).UnixNano())
		}
		return nil, invalid(ReasonInactive, "")
	}
	// A refresh token is active too, but must never open the resource.
	if tt := r.TokenType; tt != "" && !strings.EqualFold(tt, "bearer") && tt != "access_token" {
		return nil, invalid(ReasonBadType, "token_type is not an access token")
	}
	if r.TokenUse != "" && r.TokenUse != "access_token" {
		return nil, invalid(ReasonBadType, "token_use is not access_token")
	}
	if r.Confirmation != nil {
		return nil, invalid(ReasonBadType, "sender-constrained token (cnf)")
	}
	exp, _, ok1 := numericDate(r.Expiry)
	iat, _, ok2 := numericDate(r.IssuedAt)
	nbf, _, ok3 := numericDate(r.NotBefore)
	authTime, _, ok4 := numericDate(r.AuthTime)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return nil, invalid(ReasonMalformed, "bad numeric date in introspection response")
	}
	info := &TokenInfo{
		Subject:   r.Subject,
		ClientID:  r.ClientID,
		Scopes:    splitScope(r.Scope),
		Audience:  r.Audience,
		Issuer:    r.Issuer,
		Expiry:    exp,
		IssuedAt:  iat,
		NotBefore: nbf,
		AuthTime:  authTime,
		ID:        r.ID,
		Claims:    body,
	}
	if err := v.check(info, now); err != nil {
		return nil, err
	}
	if v.cache != nil {
		deadline := int64(1<<63 - 1)
		if !exp.IsZero() {
			deadline = exp.UnixNano()
		}
		v.cache.add(d, info, now.UnixNano(), deadline)
	}
	return info, nil
}

// check applies this resource server's rules to an active result; it runs
// on fresh and cached results alike.
func (v *IntrospectionVerifier) check(info *TokenInfo, now time.Time) error {
	if !info.Expiry.IsZero() && !now.Before(info.Expiry) {
		return invalid(ReasonExpired, "")
	}
	if !info.NotBefore.IsZero() && now.Before(info.NotBefore) {
		return invalid(ReasonNotYetValid, "nbf")
	}
	if v.issuer != "" && info.Issuer != v.issuer {
		return invalid(ReasonWrongIssuer, "")
	}
	if len(info.Audience) == 0 {
		if !v.allowNoAud {
			return invalid(ReasonWrongAudience, "introspection response has no aud")
		}
		return nil
	}
	for _, a := range info.Audience {
		if metadata.ResourceEqual(a, v.resource) {
			return nil
		}
	}
	return invalid(ReasonWrongAudience, "")
}

// call POSTs the token and returns the response body of a 200.
func (v *IntrospectionVerifier) call(ctx context.Context, token string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, introspectionTimeout)
	defer cancel()
	form := "token=" + url.QueryEscape(token) + "&token_type_hint=access_token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.endpoint, strings.NewReader(form))
	if err != nil {
		return nil, errors.New("cannot build request")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", v.authorization)
	resp, err := v.client.Do(req)
	if err != nil {
		// The URL error names the endpoint, not the token (the token is in
		// the body), so it is safe to log.
		return nil, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, fmt.Errorf("endpoint refused this resource server's credentials (status %d)", resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, errors.New("response is not application/json")
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxIntrospectionBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxIntrospectionBytes {
		return nil, fmt.Errorf("response larger than %d bytes", maxIntrospectionBytes)
	}
	return body, nil
}
