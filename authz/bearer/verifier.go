package bearer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/nqrust/identity/metadata"
)

// Config configures a [Verifier]. Issuer, Resource and one of Keys or
// JWKSURL are required; every other field has a safe default.
type Config struct {
	// Issuer is the authorization server's issuer identifier. A token's
	// "iss" must equal it byte for byte (RFC 9068 §4): no case folding,
	// no trailing-slash tolerance.
	Issuer string
	// Resource is this resource server's resource identifier, normally
	// the MCP endpoint URL such as "https://example.com/mcp". A token's
	// "aud" must contain it, compared with scheme and host case-insensitive
	// and an empty path equal to "/", nothing else relaxed (so
	// "https://example.com/mcp/" is a different resource).
	Resource string

	// Keys supplies the verification keys in process, for example the
	// authorization server running next to this resource server, or
	// [StaticKeys]. Exactly one of Keys and JWKSURL must be set.
	Keys KeySource
	// JWKSURL is the issuer's jwks_uri, fetched over https (http only for
	// loopback hosts), without following redirects, at most 256 KiB.
	JWKSURL string
	// HTTPClient fetches JWKSURL. Nil means a client like
	// http.DefaultClient. It is copied and the copy refuses redirects.
	// Every fetch is bounded to 10 s, whatever the client's own Timeout;
	// a shorter Timeout applies too. The fetch serves every waiting
	// request, so no request's context bounds it.
	HTTPClient *http.Client
	// JWKSDefaultTTL is how long a fetched key set is used when the
	// response has no Cache-Control max-age. Default 10 minutes.
	JWKSDefaultTTL time.Duration
	// JWKSMinTTL and JWKSMaxTTL clamp the key set lifetime (the
	// Cache-Control max-age, else JWKSDefaultTTL; no-store or no-cache
	// mean the minimum). Defaults 1 minute and 24 hours. NewVerifier fails
	// if the minimum exceeds the maximum once defaults are applied, so a
	// JWKSMinTTL above 24 hours needs a JWKSMaxTTL too.
	JWKSMinTTL, JWKSMaxTTL time.Duration
	// JWKSRefetchInterval is the least time between two fetches caused by
	// tokens naming a kid the cached set lacks (key rotation), and the
	// back-off after a failed fetch. Default 10 seconds.
	JWKSRefetchInterval time.Duration

	// Algorithms are the accepted JWS "alg" values. Default ES256, ES384,
	// RS256, PS256 and EdDSA. Allowed: ES256, ES384, ES512, RS256, RS384,
	// RS512, PS256, PS384, PS512, EdDSA. "none" and the HMAC algorithms
	// are refused: a resource server must not share a signing secret.
	Algorithms []string
	// Leeway is the clock skew tolerated on "exp", "nbf" and "iat".
	// Zero means 30 seconds; a negative value means none. At most 5 minutes.
	Leeway time.Duration
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// Logger receives diagnostics (never tokens); nil discards them.
	Logger *slog.Logger

	// CacheSize bounds the cache of verified tokens, which lets a token
	// seen before skip signature verification. Zero means 10 000 entries.
	CacheSize int
	// CacheMaxTTL bounds how long a verified token stays cached; an entry
	// also dies when its token expires. Zero means 5 minutes.
	CacheMaxTTL time.Duration
	// DisableCache turns the verified-token cache off.
	DisableCache bool
}

// Limits on configuration and input.
const (
	defaultLeeway = 30 * time.Second
	maxLeeway     = 5 * time.Minute
	// maxTokenBytes bounds the token length before any parsing.
	maxTokenBytes = 16 << 10
)

var defaultAlgorithms = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.RS256, jose.PS256, jose.EdDSA}

var allowedAlgorithms = map[string]jose.SignatureAlgorithm{
	"ES256": jose.ES256, "ES384": jose.ES384, "ES512": jose.ES512,
	"RS256": jose.RS256, "RS384": jose.RS384, "RS512": jose.RS512,
	"PS256": jose.PS256, "PS384": jose.PS384, "PS512": jose.PS512,
	"EdDSA": jose.EdDSA,
}

// Verifier verifies RFC 9068 JWT access tokens for one resource server.
// It is safe for concurrent use.
type Verifier struct {
	issuer   string
	resource string
	algs     []jose.SignatureAlgorithm
	leeway   time.Duration
	clock    func() time.Time
	log      *slog.Logger
	keys     keyResolver
	cache    *tokenCache
}

var _ TokenVerifier = (*Verifier)(nil)

// NewVerifier validates cfg and returns a Verifier. It does no network
// I/O: a remote key set is fetched on first use.
func NewVerifier(cfg Config) (*Verifier, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("bearer: Config.Issuer is required")
	}
	if err := checkURL("Config.Issuer", cfg.Issuer); err != nil {
		return nil, err
	}
	if err := checkURL("Config.Resource", cfg.Resource); err != nil {
		return nil, err
	}
	if _, err := metadata.CanonicalResource(cfg.Resource); err != nil {
		return nil, fmt.Errorf("bearer: Config.Resource: %w", err)
	}
	v := &Verifier{
		issuer:   cfg.Issuer,
		resource: cfg.Resource,
		clock:    cfg.Clock,
		log:      cfg.Logger,
	}
	if v.clock == nil {
		v.clock = time.Now
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.Leeway == 0:
		v.leeway = defaultLeeway
	case cfg.Leeway < 0:
		v.leeway = 0
	case cfg.Leeway > maxLeeway:
		return nil, fmt.Errorf("bearer: Config.Leeway %v exceeds %v", cfg.Leeway, maxLeeway)
	default:
		v.leeway = cfg.Leeway
	}
	if len(cfg.Algorithms) == 0 {
		v.algs = defaultAlgorithms
	} else {
		for _, a := range cfg.Algorithms {
			alg, ok := allowedAlgorithms[a]
			if !ok {
				return nil, fmt.Errorf("bearer: algorithm %q is not allowed (asymmetric JWS algorithms only)", a)
			}
			v.algs = append(v.algs, alg)
		}
	}
	switch {
	case cfg.Keys != nil && cfg.JWKSURL != "":
		return nil, errors.New("bearer: set only one of Config.Keys and Config.JWKSURL")
	case cfg.Keys != nil:
		if s, ok := cfg.Keys.(*staticKeys); ok {
			v.keys = s
		} else {
			v.keys = sourceResolver{cfg.Keys}
		}
	case cfg.JWKSURL != "":
		if err := checkURL("Config.JWKSURL", cfg.JWKSURL); err != nil {
			return nil, err
		}
		if cfg.JWKSMinTTL < 0 || cfg.JWKSMaxTTL < 0 || cfg.JWKSDefaultTTL < 0 || cfg.JWKSRefetchInterval < 0 {
			return nil, errors.New("bearer: negative JWKS durations")
		}
		// Compare the values in force: a minimum above the default maximum
		// (or a maximum below the default minimum) would otherwise be
		// clamped away without a word.
		if lo, hi := orDefault(cfg.JWKSMinTTL, defaultJWKSMinTTL), orDefault(cfg.JWKSMaxTTL, defaultJWKSMaxTTL); lo > hi {
			return nil, fmt.Errorf("bearer: JWKS minimum TTL %v exceeds the maximum %v (Config.JWKSMinTTL, Config.JWKSMaxTTL; defaults %v and %v)",
				lo, hi, defaultJWKSMinTTL, defaultJWKSMaxTTL)
		}
		v.keys = newRemoteKeys(&cfg, v.clock, v.log)
	default:
		return nil, errors.New("bearer: one of Config.Keys and Config.JWKSURL is required")
	}
	if !cfg.DisableCache {
		if cfg.CacheSize < 0 || cfg.CacheMaxTTL < 0 {
			return nil, errors.New("bearer: negative cache size or TTL (use DisableCache)")
		}
		size := cfg.CacheSize
		if size == 0 {
			size = defaultCacheSize
		}
		c, err := newTokenCache(size, orDefault(cfg.CacheMaxTTL, defaultCacheMaxTTL))
		if err != nil {
			return nil, fmt.Errorf("bearer: token cache: %w", err)
		}
		v.cache = c
	}
	return v, nil
}

// Verify checks a JWT access token as RFC 9068 §4 requires: JOSE "typ" is
// "at+jwt" (or "application/at+jwt"), "alg" is accepted and fits the key
// named by "kid", the signature verifies, "iss" equals the issuer, "aud"
// names this resource, "exp" is in the future and "nbf"/"iat" are not (with
// leeway), and "sub" and "client_id" are present. Errors match
// [ErrInvalidToken] (a *[TokenError]) or [ErrUnavailable].
//
// A token that passed is cached (see [Config.CacheSize]); on a cache hit
// the expiry and the audience are checked again, the signature is not.
func (v *Verifier) Verify(ctx context.Context, token string) (*TokenInfo, error) {
	if len(token) > maxTokenBytes {
		// Checked before hashing, so an oversized header costs nothing.
		return nil, invalid(ReasonMalformed, "token too long")
	}
	now := v.clock()
	var d tokenDigest
	if v.cache != nil {
		d = digestOf(token)
		if info, ok := v.cache.get(d, now.UnixNano()); ok {
			// The entry cannot outlive exp+leeway, but the clock may have
			// jumped; re-check rather than trust the entry.
			if !info.Expiry.IsZero() && now.After(info.Expiry.Add(v.leeway)) {
				return nil, invalid(ReasonExpired, "")
			}
			if !v.audienceOK(info.Audience) {
				return nil, invalid(ReasonWrongAudience, "")
			}
			return info, nil
		}
	}
	info, err := v.verify(ctx, token, now)
	if err != nil {
		return nil, err
	}
	if v.cache != nil {
		v.cache.add(d, info, now.UnixNano(), info.Expiry.Add(v.leeway).UnixNano())
	}
	return info, nil
}

func (v *Verifier) audienceOK(aud []string) bool {
	for _, a := range aud {
		if a == v.resource {
			return true
		}
	}
	for _, a := range aud {
		if metadata.ResourceEqual(a, v.resource) {
			return true
		}
	}
	return false
}

// isATJWT reports whether a JOSE "typ" names RFC 9068 access tokens.
// Media types are case-insensitive, and RFC 7515 §4.1.9 lets the
// "application/" prefix be omitted.
func isATJWT(typ string) bool {
	const prefix = "application/"
	if len(typ) > len(prefix) && strings.EqualFold(typ[:len(prefix)], prefix) {
		typ = typ[len(prefix):]
	}
	return strings.EqualFold(typ, "at+jwt")
}

func (v *Verifier) verify(ctx context.Context, token string, now time.Time) (*TokenInfo, error) {
	if len(token) > maxTokenBytes {
		return nil, invalid(ReasonMalformed, "token too long")
	}
	if strings.Count(token, ".") != 2 {
		return nil, invalid(ReasonMalformed, "not a compact JWS")
	}
	jws, err := jose.ParseSignedCompact(token, v.algs)
	if err != nil {
		var ua *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &ua) {
			return nil, invalid(ReasonBadAlgorithm, "alg not accepted")
		}
		return nil, invalid(ReasonMalformed, "not a compact JWS")
	}
	h := &jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !isATJWT(typ) {
		return nil, invalid(ReasonBadType, `typ is not "at+jwt"`)
	}
	key, err := v.keys.resolve(ctx, h.KeyID, h.Algorithm)
	if err != nil {
		return nil, err
	}
	payload, err := jws.Verify(key.key)
	if err != nil {
		if errors.Is(err, jose.ErrCryptoFailure) {
			return nil, invalid(ReasonBadSignature, "")
		}
		return nil, invalid(ReasonMalformed, "signature not verifiable")
	}
	c := newClaims()
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, invalid(ReasonMalformed, "claims are not a JSON object of the expected types")
	}
	if c.Confirmation != nil {
		// A sender-constrained token (DPoP, mTLS; RFC 7800 "cnf") is only
		// safe with its proof of possession, which bearer does not check.
		return nil, invalid(ReasonBadType, "sender-constrained token (cnf)")
	}
	if c.Issuer != v.issuer {
		return nil, invalid(ReasonWrongIssuer, "")
	}
	if !v.audienceOK(c.Audience) {
		return nil, invalid(ReasonWrongAudience, "")
	}
	exp, present, ok := numericDate(c.Expiry)
	if !ok {
		return nil, invalid(ReasonMalformed, "bad exp")
	}
	if !present {
		return nil, invalid(ReasonMissingClaim, "exp")
	}
	if now.After(exp.Add(v.leeway)) {
		return nil, invalid(ReasonExpired, "")
	}
	nbf, _, ok := numericDate(c.NotBefore)
	if !ok {
		return nil, invalid(ReasonMalformed, "bad nbf")
	}
	iat, _, ok := numericDate(c.IssuedAt)
	if !ok {
		return nil, invalid(ReasonMalformed, "bad iat")
	}
	authTime, _, ok := numericDate(c.AuthTime)
	if !ok {
		return nil, invalid(ReasonMalformed, "bad auth_time")
	}
	limit := now.Add(v.leeway)
	if nbf.After(limit) {
		return nil, invalid(ReasonNotYetValid, "nbf")
	}
	if iat.After(limit) {
		return nil, invalid(ReasonNotYetValid, "iat")
	}
	if c.Subject == "" {
		return nil, invalid(ReasonMissingClaim, "sub")
	}
	if c.ClientID == "" {
		return nil, invalid(ReasonMissingClaim, "client_id")
	}
	return &TokenInfo{
		Subject:   c.Subject,
		ClientID:  c.ClientID,
		Scopes:    splitScope(c.Scope),
		Audience:  c.Audience,
		Issuer:    c.Issuer,
		Expiry:    exp,
		IssuedAt:  iat,
		NotBefore: nbf,
		AuthTime:  authTime,
		ID:        c.ID,
		Claims:    payload,
	}, nil
}
