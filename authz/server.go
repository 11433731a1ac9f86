package authz

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"

	"github.com/nqrust/identity/dcr"
	"github.com/nqrust/identity/internal/certmatch"
	"github.com/nqrust/identity/internal/safehttp"
	"github.com/nqrust/identity/metadata"
	"github.com/nqrust/identity/policy"
	"github.com/nqrust/identity/storage"
	"github.com/nqrust/identity/storage/memory"
)

// Server is an OAuth 2.1 authorization server for MCP. Create it with
// [New]; it is safe for concurrent use. Each endpoint is an http.Handler
// (AuthorizationHandler, TokenHandler, …) and [Server.Handler] mounts them
// all together with the metadata documents.
type Server struct {
	issuer    string
	issuerURL *url.URL
	// path is the issuer's path ("" or "/tenant"), prefixing endpoints.
	path  string
	realm string

	store storage.Store
	log   *slog.Logger
	clock func() time.Time
	rand  io.Reader
	// cryptoRand is true when rand is crypto/rand.Reader, which lets the
	// hot path call rand.Read without an interface conversion.
	cryptoRand bool

	keys      atomic.Pointer[keySet]
	storeKeys bool
	// keySeq numbers store reads of the keys (keySet.seq).
	keySeq atomic.Uint64
	// lastReload is when the keys were last read from the store (or a
	// background reload started), in Unix nanoseconds of the clock.
	lastReload atomic.Int64
	// reloading is set while a background reload runs: a slow store never
	// piles them up.
	reloading atomic.Bool
	// lastKIDReload is when an unknown kid last caused a reload.
	lastKIDReload       atomic.Int64
	kidReload           singleflight.Group
	jwksFlight          singleflight.Group // fetches of clients' jwks_uri
	background          sync.WaitGroup
	keyPublicationDelay time.Duration
	keyReloadInterval   time.Duration
	jwksMaxAge          time.Duration

	clients         map[string]*clientEntry
	scopes          map[string]*Scope
	scopeOrder      []string
	resources       []*Resource
	defaultResource string

	accessTokenLifetime    time.Duration
	maxAccessTokenLifetime time.Duration
	codeLifetime           time.Duration
	refreshTokenLifetime   time.Duration
	grantLifetime          time.Duration
	requestLifetime        time.Duration
	refreshGrace           time.Duration
	refreshPolicy          RefreshTokenPolicy
	interactionURL         string
	maxBody                int64
	openIDConfig           bool

	authorizationEndpoint string
	tokenEndpoint         string
	revocationEndpoint    string
	introspectionEndpoint string
	jwksURI               string

	policies             *policy.Engine
	registrar            *dcr.Registrar
	registrationEndpoint string
	cimdSupported        bool
	metadataDoc          metadata.AuthorizationServer
	metadataHandler      http.Handler
	wellKnown            metadata.WellKnownPaths
	openIDHandler        http.Handler

	errorPage func(http.ResponseWriter, *http.Request, *Error)
	authLimit *authLimiter

	bodyPool sync.Pool
	randPool sync.Pool

	// httpClient fetches client jwks_uri documents.
	httpClient *http.Client
	jwks       jwksCache

	mtls mtlsSettings
}

// clientEntry is a pre-registered client with what is derived from its
// configuration once.
type clientEntry struct {
	client        storage.Client
	mayIntrospect bool
	jwks          *jose.JSONWebKeySet
	// subject is the parsed certificate subject of a tls_client_auth
	// client.
	subject *certmatch.Subject
}

// New validates cfg and returns a server. It reads (and, with no key
// configured, creates) the signing keys in cfg.Store.
func New(cfg Config) (*Server, error) {
	iu, err := validateIssuer(cfg.Issuer)
	if err != nil {
		return nil, err
	}
	s := &Server{
		issuer:    cfg.Issuer,
		issuerURL: iu,
		path:      iu.Path,
		realm:     iu.Host,
		store:     cfg.Store,
		log:       cfg.Logger,
		clock:     cfg.Clock,
		rand:      cfg.Rand,
		clients:   map[string]*clientEntry{},
		scopes:    map[string]*Scope{},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
		s.cryptoRand = true
	}
	if s.store == nil {
		s.store = memory.New(memory.Options{Clock: s.clock})
		s.log.Warn("authz: no Config.Store; using an in-memory store: clients, grants, tokens and keys are lost on restart and not shared between processes")
	}
	if err := s.setLifetimes(&cfg); err != nil {
		return nil, err
	}
	if err := s.setInteractionURL(cfg.InteractionURL); err != nil {
		return nil, err
	}
	if err := s.setScopesAndResources(&cfg); err != nil {
		return nil, err
	}
	if err := s.setMTLS(cfg.MTLS); err != nil {
		return nil, err
	}
	for i := range cfg.Clients {
		if err := s.addStaticClient(&cfg.Clients[i]); err != nil {
			return nil, err
		}
	}
	s.maxBody = cfg.MaxBodyBytes
	if s.maxBody == 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.maxBody < 1<<10 || s.maxBody > 1<<20 {
		return nil, errors.New("authz: Config.MaxBodyBytes must be between 1 KiB and 1 MiB")
	}
	s.openIDConfig = !cfg.DisableOpenIDConfiguration
	s.authorizationEndpoint = s.issuer + "/authorize"
	s.tokenEndpoint = s.issuer + "/token"
	s.revocationEndpoint = s.issuer + "/revoke"
	s.introspectionEndpoint = s.issuer + "/introspect"
	s.jwksURI = s.issuer + "/jwks"

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.loadKeys(ctx, cfg.Keys); err != nil {
		return nil, err
	}
	s.policies = cfg.Policies
	s.errorPage = cfg.ErrorPage
	if s.authLimit, err = newAuthLimiter(cfg.AuthFailureLimit); err != nil {
		return nil, err
	}
	s.httpClient = cfg.HTTPClient
	if s.httpClient == nil {
		sc, err := safehttp.New(safehttp.Options{Timeout: jwksFetchTimeout, MaxBytes: jwksMaxBytes})
		if err != nil {
			return nil, fmt.Errorf("authz: outbound HTTP client: %w", err)
		}
		s.httpClient = sc.HTTPClient()
	}
	if cfg.ClientIDMetadataDocuments && cfg.Policies == nil {
		return nil, errors.New("authz: Config.ClientIDMetadataDocuments needs Config.Policies with a client-id-metadata-document executor")
	}
	// Advertise what the policies really do: a metadata document is
	// resolved exactly when the CIMD executor can run.
	s.cimdSupported = cfg.ClientIDMetadataDocuments || cfg.Policies.HasExecutor(policy.ExecutorClientIDMetadataDocument)
	if err := s.setupRegistration(cfg.Registration); err != nil {
		return nil, err
	}
	if err := s.buildMetadata(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) setLifetimes(cfg *Config) error {
	def := func(v, d time.Duration) time.Duration {
		if v == 0 {
			return d
		}
		return v
	}
	s.accessTokenLifetime = def(cfg.AccessTokenLifetime, DefaultAccessTokenLifetime)
	s.codeLifetime = def(cfg.CodeLifetime, DefaultCodeLifetime)
	s.refreshTokenLifetime = def(cfg.RefreshTokenLifetime, DefaultRefreshTokenLifetime)
	s.grantLifetime = def(cfg.GrantLifetime, DefaultGrantLifetime)
	s.requestLifetime = def(cfg.RequestLifetime, DefaultRequestLifetime)
	s.refreshGrace = cfg.RefreshGracePeriod
	switch {
	case s.accessTokenLifetime < time.Second || s.accessTokenLifetime > maxAccessTokenLifetime:
		return errors.New("authz: Config.AccessTokenLifetime must be between 1 s and 24 h")
	case s.codeLifetime < time.Second || s.codeLifetime > maxCodeLifetime:
		return errors.New("authz: Config.CodeLifetime must be between 1 s and 10 min")
	case s.refreshTokenLifetime < time.Minute:
		return errors.New("authz: Config.RefreshTokenLifetime must be at least one minute")
	case cfg.GrantLifetime != 0 && s.grantLifetime < s.refreshTokenLifetime:
		return errors.New("authz: Config.GrantLifetime must not be shorter than RefreshTokenLifetime")
	case s.requestLifetime < time.Second || s.requestLifetime > maxRequestLifetime:
		return errors.New("authz: Config.RequestLifetime must be between 1 s and 1 h")
	}
	s.keyPublicationDelay = def(cfg.KeyPublicationDelay, DefaultKeyPublicationDelay)
	s.keyReloadInterval = def(cfg.KeyReloadInterval, DefaultKeyReloadInterval)
	switch {
	case s.keyReloadInterval < time.Second || s.keyReloadInterval > maxKeyReloadInterval:
		return errors.New("authz: Config.KeyReloadInterval must be between 1 s and 1 h")
	case s.keyPublicationDelay > maxKeyPublicationDelay:
		return errors.New("authz: Config.KeyPublicationDelay must be at most 24 h")
	case s.keyPublicationDelay < s.keyReloadInterval+minJWKSMaxAge:
		return errors.New("authz: Config.KeyPublicationDelay must be at least Config.KeyReloadInterval plus one minute (the JWKS cache lifetime)")
	}
	s.jwksMaxAge = s.keyPublicationDelay - s.keyReloadInterval
	if s.refreshGrace < 0 || s.refreshGrace > maxRefreshGracePeriod {
		return errors.New("authz: Config.RefreshGracePeriod must be between 0 and 60 s")
	}
	switch cfg.RefreshTokens {
	case RefreshWhenAllowed, RefreshOnOfflineAccess, RefreshNever:
		s.refreshPolicy = cfg.RefreshTokens
	default:
		return fmt.Errorf("authz: unknown Config.RefreshTokens %d", cfg.RefreshTokens)
	}
	if s.grantLifetime < s.refreshTokenLifetime {
		s.grantLifetime = s.refreshTokenLifetime
	}
	s.maxAccessTokenLifetime = s.accessTokenLifetime
	return nil
}

func (s *Server) setInteractionURL(v string) error {
	if v == "" {
		return errors.New("authz: Config.InteractionURL is required (where users log in and consent)")
	}
	u, err := url.Parse(v)
	if err != nil {
		return fmt.Errorf("authz: Config.InteractionURL: %v", err)
	}
	if u.Fragment != "" || strings.Contains(v, "#") {
		return errors.New("authz: Config.InteractionURL must not have a fragment")
	}
	if u.IsAbs() {
		if u.Scheme != "https" && (u.Scheme != "http" || !isLoopbackHost(u.Hostname())) {
			return errors.New("authz: Config.InteractionURL must use https (http only on a loopback host)")
		}
		if u.Host == "" || u.User != nil {
			return errors.New("authz: Config.InteractionURL must have a host and no userinfo")
		}
	} else if !strings.HasPrefix(v, "/") || strings.HasPrefix(v, "//") || strings.HasPrefix(v, "/\\") {
		return errors.New("authz: Config.InteractionURL must be an absolute URL or an absolute path")
	}
	s.interactionURL = v
	return nil
}

func (s *Server) setScopesAndResources(cfg *Config) error {
	for i := range cfg.Scopes {
		sc := cfg.Scopes[i]
		if !validScopeToken(sc.Name) {
			return fmt.Errorf("authz: Config.Scopes[%d]: invalid scope name %q", i, sc.Name)
		}
		if _, dup := s.scopes[sc.Name]; dup {
			return fmt.Errorf("authz: Config.Scopes: duplicate scope %q", sc.Name)
		}
		if sc.Name == ScopeOfflineAccess && len(sc.Audiences) > 0 {
			return errors.New("authz: Config.Scopes: offline_access cannot carry audiences")
		}
		sc.Audiences = append([]string(nil), sc.Audiences...)
		for _, a := range sc.Audiences {
			if _, ok := canonicalResource(a); !ok {
				return fmt.Errorf("authz: Config.Scopes[%d]: audience %q must be an absolute URI without fragment", i, a)
			}
		}
		s.scopes[sc.Name] = &sc
		s.scopeOrder = append(s.scopeOrder, sc.Name)
	}
	if _, ok := s.scopes[ScopeOfflineAccess]; !ok {
		s.scopes[ScopeOfflineAccess] = &Scope{Name: ScopeOfflineAccess, Description: "Stay connected when you are not using the application."}
		s.scopeOrder = append(s.scopeOrder, ScopeOfflineAccess)
	}
	for i := range cfg.Resources {
		r := cfg.Resources[i]
		if _, ok := canonicalResource(r.Identifier); !ok {
			return fmt.Errorf("authz: Config.Resources[%d]: identifier %q must be an absolute URI without fragment", i, r.Identifier)
		}
		for _, o := range s.resources {
			if resourceEqual(o.Identifier, r.Identifier) {
				return fmt.Errorf("authz: Config.Resources: duplicate resource %q", r.Identifier)
			}
		}
		for _, name := range r.Scopes {
			if _, ok := s.scopes[name]; !ok {
				return fmt.Errorf("authz: Config.Resources[%d]: scope %q is not in Config.Scopes", i, name)
			}
		}
		if r.AccessTokenLifetime < 0 || r.AccessTokenLifetime > maxAccessTokenLifetime {
			return fmt.Errorf("authz: Config.Resources[%d]: AccessTokenLifetime must be between 0 and 24 h", i)
		}
		r.Scopes = append([]string(nil), r.Scopes...)
		s.resources = append(s.resources, &r)
		if r.AccessTokenLifetime > s.maxAccessTokenLifetime {
			s.maxAccessTokenLifetime = r.AccessTokenLifetime
		}
	}
	if cfg.DefaultResource != "" {
		r := s.findResource(cfg.DefaultResource)
		if r == nil {
			return fmt.Errorf("authz: Config.DefaultResource %q is not in Config.Resources", cfg.DefaultResource)
		}
		s.defaultResource = r.Identifier
	}
	return nil
}

// findResource returns the registered resource equal to id.
func (s *Server) findResource(id string) *Resource {
	for _, r := range s.resources {
		if r.Identifier == id {
			return r
		}
	}
	for _, r := range s.resources {
		if resourceEqual(r.Identifier, id) {
			return r
		}
	}
	return nil
}

// Issuer returns the issuer identifier, exactly as configured.
func (s *Server) Issuer() string { return s.issuer }

func (s *Server) now() time.Time { return s.clock() }

// readRandom fills b from the configured source.
func (s *Server) readRandom(b []byte) error {
	if s.cryptoRand {
		_, err := rand.Read(b)
		return err
	}
	_, err := io.ReadFull(s.rand, b)
	return err
}

// randomToken returns n random bytes, base64url-encoded without padding.
// n is at most 48. The random bytes go through a pooled buffer: a stack
// array would escape to the heap (the source is an io.Reader).
func (s *Server) randomToken(n int) (string, error) {
	raw, _ := s.randPool.Get().(*[48]byte)
	if raw == nil {
		raw = new([48]byte)
	}
	defer s.randPool.Put(raw)
	var enc [64]byte
	if err := s.readRandom(raw[:n]); err != nil {
		return "", fmt.Errorf("authz: reading random bytes: %w", err)
	}
	m := base64.RawURLEncoding.EncodedLen(n)
	base64.RawURLEncoding.Encode(enc[:m], raw[:n])
	return string(enc[:m]), nil
}

// Handler returns one handler serving every endpoint under the issuer's
// path, the metadata documents at every well-known URL MCP clients probe,
// and, for an issuer without a path, the MCP 2025-03-26 default endpoint
// paths (which then coincide with the real ones). Mount it at the root of
// the host's mux ("/"), or at the specific paths it serves.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	p := s.path
	mux.Handle(p+"/authorize", s.AuthorizationHandler())
	mux.Handle(p+"/token", s.TokenHandler())
	mux.Handle(p+"/revoke", s.RevocationHandler())
	mux.Handle(p+"/introspect", s.IntrospectionHandler())
	mux.Handle(p+"/jwks", s.JWKSHandler())
	if s.registrar != nil {
		// {issuer}/register and /register/{client_id}; for an issuer
		// without a path this is also the MCP 2025-03-26 default path.
		s.registrar.Mount(mux)
	}
	wk := s.wellKnown
	mux.Handle(wk.AuthorizationServer, s.metadataHandler)
	if wk.Legacy != "" {
		// MCP 2025-03-26 clients drop the path and look at the root.
		mux.Handle(wk.Legacy, s.metadataHandler)
	}
	if s.openIDHandler != nil {
		for _, p := range wk.OpenIDConfiguration {
			mux.Handle(p, s.openIDHandler)
		}
	}
	return s.recoverer(mux)
}

// recoverer is the last line of defence: a panic in a handler is logged and
// answered with 500, never a crashed connection with a stack trace. Tests
// must never reach it.
func (s *Server) recoverer(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.LogAttrs(r.Context(), slog.LevelError, "authz: panic in handler",
					slog.String("path", r.URL.Path), slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
				h := w.Header()
				h["Content-Type"] = jsonValue
				setNoStore(h)
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = w.Write([]byte(`{"error":"server_error"}`))
			}
		}()
		h.ServeHTTP(w, r)
	})
}

// corsHeaders allows any origin to read the response. That is safe on the
// endpoints that use it (token, revocation, metadata, JWKS): they use no
// cookies and authenticate clients explicitly.
func corsHeaders(h http.Header) {
	h["Access-Control-Allow-Origin"] = corsStar
	h["Access-Control-Expose-Headers"] = corsExpose
}

var (
	corsStar   = []string{"*"}
	corsExpose = []string{"WWW-Authenticate"}
)

// corsPreflight answers an OPTIONS preflight.
func corsPreflight(w http.ResponseWriter, methods string) {
	h := w.Header()
	h["Access-Control-Allow-Origin"] = corsStar
	h.Set("Access-Control-Allow-Methods", methods)
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, MCP-Protocol-Version")
	h.Set("Access-Control-Max-Age", "86400")
	h.Set("Allow", methods)
	w.WriteHeader(http.StatusNoContent)
}
