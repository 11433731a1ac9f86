package authztest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/nqrust/identity/authz"
	"github.com/nqrust/identity/authz/bearer"
	"github.com/nqrust/identity/dcr"
	"github.com/nqrust/identity/storage/memory"
)

// Defaults for zero [Options] fields.
const (
	// DefaultResource is the resource (the MCP server URL, the token
	// audience) when Options.Resource is empty.
	DefaultResource = "https://mcp.example.test/mcp"
	// DefaultSubject is the user the interaction step signs in as.
	DefaultSubject = "test-user"
	// DefaultClientID is the client_id of tokens minted without one.
	DefaultClientID = "test-client"
)

// interactionPath is where the authorization endpoint sends the browser;
// the handler there approves at once.
const interactionPath = "/interaction"

// Options configures a test authorization server. The zero value works:
// resource DefaultResource, no scopes known (tokens may still carry any),
// user DefaultSubject.
type Options struct {
	// Resource is the protected resource tokens are for: your MCP
	// server's URL, exactly as your verifier's bearer.Config.Resource. It
	// is registered with the server and is the audience of minted tokens.
	// Empty means DefaultResource.
	Resource string
	// ResourceName is the resource's display name.
	ResourceName string
	// Scopes are the scopes the server knows, for authorization flows
	// (requested scopes it does not know are dropped). Minted tokens may
	// carry any scope.
	Scopes []string
	// Subject is who the interaction step approves requests as, in
	// authorization code flows. Empty means DefaultSubject.
	Subject string
	// ClientID is the client_id of tokens minted without one. Empty means
	// DefaultClientID.
	ClientID string
	// TokenLifetime is the lifetime of access tokens; 0 means
	// authz.DefaultAccessTokenLifetime.
	TokenLifetime time.Duration
	// DisableRegistration turns dynamic client registration off. By
	// default anyone may register (this is a test server on loopback).
	DisableRegistration bool
	// Clock is the server's clock; nil means time.Now. Minted tokens use
	// it too, so a test can issue tokens "in the past".
	Clock func() time.Time
	// Logger receives the server's diagnostics; nil discards them.
	Logger *slog.Logger
	// Configure, if set, may change the authorization server's
	// configuration (add static clients, policies, …) before it is
	// created. Issuer and InteractionURL are set by this package and
	// must not be changed.
	Configure func(*authz.Config)
}

// Server is a running test authorization server.
type Server struct {
	t        testing.TB
	ts       *httptest.Server
	az       *authz.Server
	verifier *bearer.Verifier
	resource string
	clientID string
}

// New starts a test authorization server and stops it when the test (t)
// ends. It fails the test if opts are invalid.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := Start(opts)
	if err != nil {
		t.Fatalf("authztest: %v", err)
	}
	s.t = t
	t.Cleanup(s.Close)
	return s
}

// Start is New without a testing.TB, for examples and TestMain: the
// caller must Close the server. Token and TokenFor panic instead of
// failing a test on invalid input.
func Start(opts Options) (*Server, error) {
	resource := opts.Resource
	if resource == "" {
		resource = DefaultResource
	}
	subject := opts.Subject
	if subject == "" {
		subject = DefaultSubject
	}
	clientID := opts.ClientID
	if clientID == "" {
		clientID = DefaultClientID
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	ts := httptest.NewUnstartedServer(nil)
	issuer := "http://" + ts.Listener.Addr().String()
	cfg := authz.Config{
		Issuer:              issuer,
		Keys:                []crypto.Signer{key},
		Store:               memory.New(memory.Options{Clock: opts.Clock}),
		Resources:           []authz.Resource{{Identifier: resource, Name: opts.ResourceName}},
		DefaultResource:     resource,
		AccessTokenLifetime: opts.TokenLifetime,
		InteractionURL:      interactionPath,
		Clock:               opts.Clock,
		Logger:              opts.Logger,
	}
	for _, sc := range opts.Scopes {
		cfg.Scopes = append(cfg.Scopes, authz.Scope{Name: sc})
	}
	if !opts.DisableRegistration {
		cfg.Registration = &dcr.Config{
			Anonymous: &dcr.Policy{
				Name:              "authztest",
				TrustedHosts:      []string{"*"},
				AllowedWebOrigins: []string{"*"},
				RateLimit:         rate.Inf,
			},
			MaxClients:      -1,
			UnusedClientTTL: -1,
		}
	}
	if opts.Configure != nil {
		opts.Configure(&cfg)
		if cfg.Issuer != issuer || cfg.InteractionURL != interactionPath {
			ts.Close()
			return nil, errors.New("Options.Configure must not change Issuer or InteractionURL")
		}
	}
	az, err := authz.New(cfg)
	if err != nil {
		ts.Close()
		return nil, err
	}
	v, err := bearer.NewVerifier(bearer.Config{Issuer: issuer, Resource: resource, Keys: az, Clock: opts.Clock})
	if err != nil {
		ts.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(interactionPath, authz.AutoApprove(az, subject))
	mux.Handle("/", az.Handler())
	ts.Config.Handler = mux
	ts.Start()
	return &Server{ts: ts, az: az, verifier: v, resource: resource, clientID: clientID}, nil
}

// Close stops the server. New arranges for it to be called when the test
// ends; calling it again does nothing.
func (s *Server) Close() { s.ts.Close() }

// Issuer returns the issuer identifier: the server's base URL
// ("http://127.0.0.1:port"), also the value for the authorization_servers
// of your protected resource metadata.
func (s *Server) Issuer() string { return s.az.Issuer() }

// URL is the same as Issuer.
func (s *Server) URL() string { return s.az.Issuer() }

// JWKSURL returns the URL of the server's JSON Web Key Set, for a
// verifier configured with bearer.Config.JWKSURL (as in production).
func (s *Server) JWKSURL() string { return s.az.Issuer() + "/jwks" }

// Resource returns the registered resource, the audience of minted tokens.
func (s *Server) Resource() string { return s.resource }

// KeySource returns the server's verification keys in process, for
// bearer.Config.Keys.
func (s *Server) KeySource() bearer.KeySource { return s.az }

// Verifier returns a verifier for Resource that checks tokens against the
// server's keys in process.
func (s *Server) Verifier() *bearer.Verifier { return s.verifier }

// AuthServer returns the authorization server itself, for what this
// package does not wrap (revoking grants, rotating keys, parked requests).
func (s *Server) AuthServer() *authz.Server { return s.az }

// Client returns an HTTP client for the server (plain http, loopback).
func (s *Server) Client() *http.Client { return s.ts.Client() }

// TokenOptions describe a token for [Server.TokenFor].
type TokenOptions struct {
	// Subject is the "sub"; empty means DefaultSubject.
	Subject string
	// ClientID is the "client_id"; empty means Options.ClientID.
	ClientID string
	// Scopes become the "scope" claim.
	Scopes []string
	// Audience is the "aud"; empty means the server's Resource. Give
	// another URL to test that your server refuses tokens meant for
	// someone else.
	Audience []string
	// Lifetime is the token's lifetime; 0 means the configured one. A
	// negative value mints a token that expired that long ago.
	Lifetime time.Duration
	// AuthTime is the "auth_time"; zero omits it.
	AuthTime time.Time
}

// Token mints an access token for Resource with the given subject (empty
// means DefaultSubject) and scopes. It fails the test on invalid input,
// such as a scope with characters RFC 6749 does not allow.
func (s *Server) Token(subject string, scopes ...string) string {
	if s.t != nil {
		s.t.Helper()
	}
	return s.TokenFor(TokenOptions{Subject: subject, Scopes: scopes})
}

// TokenFor mints an access token as described by o. It fails the test on
// invalid input.
func (s *Server) TokenFor(o TokenOptions) string {
	if s.t != nil {
		s.t.Helper()
	}
	tok, err := s.Mint(context.Background(), o)
	if err != nil {
		if s.t == nil {
			panic(err)
		}
		s.t.Fatalf("authztest: %v", err)
	}
	return tok
}

// Mint is TokenFor returning an error instead of failing the test.
func (s *Server) Mint(ctx context.Context, o TokenOptions) (string, error) {
	if o.Subject == "" {
		o.Subject = DefaultSubject
	}
	if o.ClientID == "" {
		o.ClientID = s.clientID
	}
	aud := o.Audience
	if len(aud) == 0 {
		aud = []string{s.resource}
	}
	tok, err := s.az.IssueAccessToken(ctx, authz.TokenRequest{
		Subject:   o.Subject,
		ClientID:  o.ClientID,
		Scopes:    o.Scopes,
		Resources: aud,
		Lifetime:  o.Lifetime,
		AuthTime:  o.AuthTime,
	})
	if err != nil {
		return "", fmt.Errorf("minting a token: %w", err)
	}
	return tok, nil
}
