package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/nqrust/identity/authz"
	"github.com/nqrust/identity/authz/bearer"
	"github.com/nqrust/identity/metadata"
	"github.com/nqrust/identity/storage/memory"
)

// The clients and scope of the stack. The secrets only ever travel over
// loopback inside this process.
const (
	serviceClientID     = "loadtest-service"
	serviceClientSecret = "loadtest-service-secret-0123456789"
	rsClientID          = "loadtest-resource-server"
	rsClientSecret      = "loadtest-resource-server-secret-0123456789"
	scopeTools          = "mcp:tools"
	tokenLifetime       = 2 * time.Hour
	maxMCPBody          = 1 << 20
	bareTokenPath       = "/bare/token"
	openMCPPath         = "/open/mcp"
)

// stack is the example server's stack built in process from the library
// packages, wired as examples/mcpserver wires it: an authorization server
// (package authz, memory store) on the issuer's root, and an MCP server
// (MCP Go SDK, Streamable HTTP, stateless) at /mcp behind the
// authz/bearer middleware and the SDK's own bearer check fed from it.
// Next to them, at /bare/token, a handler that only signs the claims a
// client_credentials token has, with the same key and go-jose signer
// settings: the floor the token endpoint is compared with.
type stack struct {
	issuer   string
	mcpURL   string
	az       *authz.Server
	verifier *bearer.Verifier
	srv      *http.Server
	done     chan struct{}
}

// newStack listens on a loopback port and serves the stack there until
// Close.
func newStack() (_ *stack, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			ln.Close()
		}
	}()
	issuer := "http://" + ln.Addr().String()
	s := &stack{issuer: issuer, mcpURL: issuer + "/mcp", done: make(chan struct{})}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	s.az, err = authz.New(authz.Config{
		Issuer: issuer,
		Keys:   []crypto.Signer{key},
		Store:  memory.New(memory.Options{}),
		Clients: []authz.StaticClient{
			{
				Metadata: metadata.Client{
					ClientID:                serviceClientID,
					GrantTypes:              []string{authz.GrantTypeClientCredentials},
					TokenEndpointAuthMethod: authz.AuthMethodClientSecretBasic,
				},
				Secret: serviceClientSecret,
			},
			{
				Metadata: metadata.Client{
					ClientID:                rsClientID,
					GrantTypes:              []string{authz.GrantTypeClientCredentials},
					TokenEndpointAuthMethod: authz.AuthMethodClientSecretBasic,
				},
				Secret:        rsClientSecret,
				MayIntrospect: true,
			},
		},
		Scopes:              []authz.Scope{{Name: scopeTools, Description: "Use the tools.", Default: true}},
		Resources:           []authz.Resource{{Identifier: s.mcpURL, Name: "loadtest MCP server", Scopes: []string{scopeTools}}},
		DefaultResource:     s.mcpURL,
		AccessTokenLifetime: tokenLifetime,
		// Only the client_credentials grant is driven; the interaction
		// URL is never reached.
		InteractionURL: "/login",
	})
	if err != nil {
		return nil, err
	}
	s.verifier, err = bearer.NewVerifier(bearer.Config{Issuer: issuer, Resource: s.mcpURL, Keys: s.az})
	if err != nil {
		return nil, err
	}
	bare, err := newBareSigner(key, issuer, s.mcpURL)
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	prmURL, err := bearer.MountProtectedResourceMetadata(mux, bearer.ProtectedResourceMetadata(s.mcpURL, []string{issuer}, []string{scopeTools}))
	if err != nil {
		return nil, err
	}
	mcpServer := newMCPServer(true)
	opts := &mcp.StreamableHTTPOptions{Stateless: true, MaxRequestBodyBytes: maxMCPBody}
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return mcpServer }, opts)
	var protected http.Handler = auth.RequireBearerToken(sdkVerifier, nil)(mcpHandler)
	protected = bearer.Middleware(s.verifier, bearer.Options{
		ResourceMetadataURL: prmURL,
		Scopes:              []string{scopeTools},
	})(protected)
	mux.Handle("/mcp", protected)
	// The same MCP server without authentication: the floor of /mcp.
	openServer := newMCPServer(false)
	mux.Handle(openMCPPath, mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return openServer }, opts))
	mux.Handle(bareTokenPath, bare)
	mux.Handle("/", s.az.Handler())

	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
	}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// Close stops the server and waits for it.
func (s *stack) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, s.srv.Close())
	}
	<-s.done
	return err
}

// sdkVerifier hands the SDK's bearer check the token the authz/bearer
// middleware verified before it (so each request is verified once), as
// examples/mcpserver's SDKTokenVerifier does: the tool handlers then find
// the token in req.Extra.TokenInfo.
func sdkVerifier(_ context.Context, _ string, r *http.Request) (*auth.TokenInfo, error) {
	info, ok := bearer.TokenInfoFromContext(r.Context())
	if !ok {
		return nil, auth.ErrInvalidToken
	}
	return &auth.TokenInfo{Scopes: info.Scopes, Expiration: info.Expiry, UserID: info.Subject}, nil
}

type echoArgs struct {
	Text string `json:"text" jsonschema:"the text to echo"`
}

// newMCPServer is an MCP server with one tool, echo, which refuses calls
// without a token when requireToken is set.
func newMCPServer(requireToken bool) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "nqrust-identity-loadtest", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "Returns the text it is given."},
		func(_ context.Context, req *mcp.CallToolRequest, in echoArgs) (*mcp.CallToolResult, echoArgs, error) {
			if requireToken && (req.Extra == nil || req.Extra.TokenInfo == nil) {
				return nil, echoArgs{}, errors.New("no access token")
			}
			return nil, in, nil
		})
	return s
}

// bareSigner is the floor of the token endpoint: it signs the claims a
// client_credentials access token carries (iss, sub, aud, client_id,
// scope, iat, exp, jti) with the same key, algorithm, kid and "typ" as
// the authorization server, and answers with the same JSON shape, doing
// nothing else: no form parsing, no client authentication, no policy.
type bareSigner struct {
	signer jose.Signer
	prefix []byte // the constant head of the claims
}

func newBareSigner(key *ecdsa.PrivateKey, issuer, audience string) (*bareSigner, error) {
	tp, err := (&jose.JSONWebKey{Key: key.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, err
	}
	kid := base64.RawURLEncoding.EncodeToString(tp)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		return nil, err
	}
	prefix := fmt.Appendf(nil, `{"iss":%q,"sub":%q,"aud":%q,"client_id":%q,"scope":%q,"iat":`,
		issuer, serviceClientID, audience, serviceClientID, scopeTools)
	return &bareSigner{signer: signer, prefix: prefix}, nil
}

func (b *bareSigner) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Read the body as any handler must for the connection to be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 64<<10))
	var rnd [16]byte
	_, _ = rand.Read(rnd[:])
	now := time.Now()
	p := make([]byte, 0, 320)
	p = append(p, b.prefix...)
	p = strconv.AppendInt(p, now.Unix(), 10)
	p = append(p, `,"exp":`...)
	p = strconv.AppendInt(p, now.Add(tokenLifetime).Unix(), 10)
	p = append(p, `,"jti":"`...)
	p = base64.RawURLEncoding.AppendEncode(p, rnd[:])
	p = append(p, `"}`...)
	jws, err := b.signer.Sign(p)
	if err != nil {
		http.Error(w, "sign failed", http.StatusInternalServerError)
		return
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		http.Error(w, "serialize failed", http.StatusInternalServerError)
		return
	}
	out := make([]byte, 0, len(tok)+96)
	out = append(out, `{"access_token":"`...)
	out = append(out, tok...)
	out = append(out, `","token_type":"Bearer","expires_in":`...)
	out = strconv.AppendInt(out, int64(tokenLifetime/time.Second), 10)
	out = append(out, `,"scope":"`+scopeTools+`"}`...)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(out)
}
