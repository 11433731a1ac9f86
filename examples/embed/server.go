package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/nqrust/identity/authz"
	"github.com/nqrust/identity/authz/bearer"
	"github.com/nqrust/identity/authz/consent"
	"github.com/nqrust/identity/dcr"
	"github.com/nqrust/identity/storage/memory"
)

// Scopes of the notes MCP server.
const (
	scopeRead  = "notes:read"
	scopeWrite = "notes:write"
)

// newHandler adds MCP and OAuth to the app: an authorization server whose
// issuer is base + "/oauth", the default consent page reading the app's
// session, and the MCP endpoint at base + "/mcp". base is the app's public
// URL, such as "http://127.0.0.1:8081".
func newHandler(a *app, base string, log *slog.Logger) (http.Handler, error) {
	issuer := base + "/oauth"
	mcpURL := base + "/mcp"
	// Everything is in memory: a restart forgets clients and grants, so
	// a fresh signing key per run is enough. A real deployment keeps
	// both in a durable store (storage/sqlstore).
	store := memory.New(memory.Options{})
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}

	az, err := authz.New(authz.Config{
		Issuer: issuer,
		Keys:   []crypto.Signer{key},
		Store:  store,
		Scopes: []authz.Scope{
			{Name: scopeRead, Description: "Read your notes.", Default: true},
			{Name: scopeWrite, Description: "Add notes for you."},
		},
		Resources:       []authz.Resource{{Identifier: mcpURL, Name: "Acme Notes"}},
		DefaultResource: mcpURL,
		InteractionURL:  "/oauth/consent",
		// Local MCP clients (VS Code, MCP Inspector, SDKs) register
		// themselves; redirects may only go back to this machine.
		Registration: &dcr.Config{Anonymous: &dcr.Policy{
			Name:              "local-clients",
			TrustedHosts:      []string{"localhost", "127.0.0.0/8", "::1", "github.com"},
			AllowedWebOrigins: []string{"http://localhost:6274"},
		}},
		Logger: log,
	})
	if err != nil {
		return nil, err
	}
	consentPage, err := consent.New(consent.Config{
		Server: az,
		// The app's own session decides who is signed in.
		Authenticate: func(r *http.Request) (string, time.Time, bool) {
			u, s := a.currentUser(r)
			if u == nil {
				return "", time.Time{}, false
			}
			return u.id, s.authTime, true
		},
		LoginURL: "/login",
		Store:    store,
		Logger:   log,
	})
	if err != nil {
		return nil, err
	}

	verifier, err := bearer.NewVerifier(bearer.Config{Issuer: issuer, Resource: mcpURL, Keys: az})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	prmURL, err := bearer.MountProtectedResourceMetadata(mux,
		bearer.ProtectedResourceMetadata(mcpURL, []string{issuer}, []string{scopeRead, scopeWrite}))
	if err != nil {
		return nil, err
	}
	mux.Handle("/mcp", bearer.Middleware(verifier, bearer.Options{
		ResourceMetadataURL: prmURL,
		Scopes:              []string{scopeRead},
	})(mcpHandler(a)))

	// The app's own pages.
	mux.HandleFunc("/{$}", a.serveHome)
	mux.HandleFunc("/login", a.serveLogin("/oauth/consent"))
	mux.HandleFunc("/logout", a.serveLogout)
	// The authorization server: /oauth/… and the well-known documents.
	mux.Handle("/oauth/consent", consentPage)
	mux.Handle("/", az.Handler())
	return mux, nil
}

type listOutput struct {
	User  string   `json:"user"`
	Notes []string `json:"notes"`
}

type addInput struct {
	Text string `json:"text" jsonschema:"the note"`
}

// mcpHandler is the MCP server of the app: the signed-in user's notes,
// found through the token's subject, which is the app's user ID.
func mcpHandler(a *app) http.Handler {
	s := mcp.NewServer(&mcp.Implementation{Name: "acme-notes", Version: "0.1.0"}, nil)
	userOf := func(req *mcp.CallToolRequest) (*user, error) {
		if req.Extra == nil || req.Extra.TokenInfo == nil {
			return nil, errors.New("no access token")
		}
		u := a.byID[req.Extra.TokenInfo.UserID]
		if u == nil {
			return nil, errors.New("unknown user")
		}
		return u, nil
	}
	mcp.AddTool(s, &mcp.Tool{Name: "list_notes", Description: "Lists your notes."},
		func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, listOutput, error) {
			u, err := userOf(req)
			if err != nil {
				return nil, listOutput{}, err
			}
			return nil, listOutput{User: u.display, Notes: a.notes.list(u.id)}, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "add_note", Description: "Adds a note. Needs the notes:write scope."},
		func(_ context.Context, req *mcp.CallToolRequest, in addInput) (*mcp.CallToolResult, listOutput, error) {
			u, err := userOf(req)
			if err != nil {
				return nil, listOutput{}, err
			}
			if !slices.Contains(req.Extra.TokenInfo.Scopes, scopeWrite) {
				return nil, listOutput{}, errors.New("adding notes needs the notes:write scope")
			}
			a.notes.add(u.id, in.Text)
			return nil, listOutput{User: u.display, Notes: a.notes.list(u.id)}, nil
		})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: true, MaxRequestBodyBytes: 1 << 20})
	// bearer.Middleware verified the token; hand it to the SDK so that
	// tools find it in req.Extra.TokenInfo.
	return auth.RequireBearerToken(func(_ context.Context, _ string, r *http.Request) (*auth.TokenInfo, error) {
		info, ok := bearer.TokenInfoFromContext(r.Context())
		if !ok {
			return nil, auth.ErrInvalidToken
		}
		return &auth.TokenInfo{UserID: info.Subject, Scopes: info.Scopes, Expiration: info.Expiry}, nil
	}, nil)(h)
}
