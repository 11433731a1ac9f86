package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/nqrust/identity/authz/bearer"
	"github.com/nqrust/identity/metadata"
)

// maxMCPBody bounds an MCP request body.
const maxMCPBody = 1 << 20

// newHandler builds the resource server: the protected resource metadata
// and the MCP endpoint behind the bearer middleware. Tokens are verified
// against the issuer's JWKS, fetched with hc.
func newHandler(cfg *config, hc *http.Client, log *slog.Logger) (http.Handler, error) {
	path, ru, err := resourcePath(cfg.resource)
	if err != nil {
		return nil, err
	}
	verifier, err := bearer.NewVerifier(bearer.Config{
		Issuer:     cfg.issuer,
		Resource:   cfg.resource,
		JWKSURL:    cfg.jwksURL,
		HTTPClient: hc,
		Logger:     log,
	})
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	prm := bearer.ProtectedResourceMetadata(cfg.resource, []string{cfg.issuer}, cfg.scopes)
	prm.ResourceName = "NQRust-Identity example resource server"
	prmURL, err := bearer.MountProtectedResourceMetadata(mux, prm)
	if err != nil {
		return nil, err
	}

	mcpServer := newMCPServer()
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return mcpServer }, &mcp.StreamableHTTPOptions{
		Stateless:           true,
		MaxRequestBodyBytes: maxMCPBody,
		// The SDK refuses requests that arrive on a loopback address with
		// a foreign Host header (DNS rebinding). Behind a reverse proxy on
		// this machine that is every request, so the guard is on only
		// when the public URL is itself on loopback.
		DisableLocalhostProtection: !metadata.IsLoopbackHost(ru.Hostname()),
		Logger:                     log,
	})
	// bearer.Middleware verifies the token and answers the challenges;
	// auth.RequireBearerToken after it only hands the verified token to
	// the SDK, so that tool handlers find it in req.Extra.TokenInfo.
	var protected http.Handler = auth.RequireBearerToken(fromBearer, nil)(mcpHandler)
	protected = bearer.Middleware(verifier, bearer.Options{
		ResourceMetadataURL: prmURL,
		Scopes:              cfg.scopes,
		Logger:              log,
	})(protected)
	mux.Handle(path, protected)
	return mux, nil
}

// fromBearer is an auth.TokenVerifier that takes the token bearer.Middleware
// verified from the request context.
func fromBearer(_ context.Context, _ string, r *http.Request) (*auth.TokenInfo, error) {
	info, ok := bearer.TokenInfoFromContext(r.Context())
	if !ok {
		return nil, auth.ErrInvalidToken
	}
	return &auth.TokenInfo{
		Scopes:     info.Scopes,
		Expiration: info.Expiry,
		UserID:     info.Subject,
		Extra:      map[string]any{"client_id": info.ClientID, "aud": info.Audience, "iss": info.Issuer},
	}, nil
}

type whoamiOutput struct {
	Subject  string   `json:"subject"`
	ClientID string   `json:"client_id"`
	Scopes   []string `json:"scopes"`
	Audience []string `json:"audience"`
	Issuer   string   `json:"issuer"`
}

type echoInput struct {
	Text string `json:"text" jsonschema:"the text to echo"`
}

type echoOutput struct {
	Text string `json:"text"`
}

// newMCPServer builds the MCP server with its two tools.
func newMCPServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "nqrust-identity-resource-server", Version: "0.1.0"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "whoami", Description: "Describes the access token of this request."},
		func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, whoamiOutput, error) {
			if req.Extra == nil || req.Extra.TokenInfo == nil {
				return nil, whoamiOutput{}, errors.New("no access token")
			}
			ti := req.Extra.TokenInfo
			out := whoamiOutput{Subject: ti.UserID, Scopes: ti.Scopes}
			out.ClientID, _ = ti.Extra["client_id"].(string)
			out.Audience, _ = ti.Extra["aud"].([]string)
			out.Issuer, _ = ti.Extra["iss"].(string)
			return nil, out, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "Returns the text it is given."},
		func(_ context.Context, _ *mcp.CallToolRequest, in echoInput) (*mcp.CallToolResult, echoOutput, error) {
			return nil, echoOutput(in), nil
		})
	return s
}
