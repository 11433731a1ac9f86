package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The scopes of the demo. The first three are the seed guide's; mcp:admin
// is asked for only when a client calls the secret tool (step-up).
const (
	scopeTools     = "mcp:tools"
	scopePrompts   = "mcp:prompts"
	scopeResources = "mcp:resources"
	scopeAdmin     = "mcp:admin"
)

// basicScopes are what a client is told to ask for when it arrives
// without a token, and what the protected resource metadata advertises:
// MCP asks scopes_supported to be the minimal set for basic use, so
// mcp:admin is left out and obtained by step-up.
var basicScopes = []string{scopeTools, scopePrompts, scopeResources}

// allScopes are every scope the authorization server knows.
var allScopes = []string{scopeTools, scopePrompts, scopeResources, scopeAdmin}

// guardedTools are tools that need scopes beyond mcp:tools.
var guardedTools = map[string][]string{
	"secret": {scopeAdmin},
}

// maxMCPBody bounds an MCP request body. The scope check reads the whole
// body (to see which tool is called) before the SDK does, so both use
// the same limit.
const maxMCPBody = 1 << 20

// newMCPServer builds the MCP server with its tools, one prompt and one
// resource.
func newMCPServer(version string) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "nqrust-identity-demo", Title: "NQRust-Identity demo", Version: version}, &mcp.ServerOptions{
		Instructions: "Demo MCP server protected by NQRust-Identity. The secret tool needs the mcp:admin scope.",
	})

	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "Returns the text it is given."},
		func(_ context.Context, _ *mcp.CallToolRequest, in echoInput) (*mcp.CallToolResult, echoOutput, error) {
			return nil, echoOutput(in), nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "add", Description: "Adds two numbers."},
		func(_ context.Context, _ *mcp.CallToolRequest, in addInput) (*mcp.CallToolResult, addOutput, error) {
			return nil, addOutput{Sum: in.A + in.B}, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "whoami", Description: "Describes the access token of this request: user, client and scopes."},
		func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, whoamiOutput, error) {
			ti := tokenOf(req)
			if ti == nil {
				return nil, whoamiOutput{}, errors.New("no access token")
			}
			out := whoamiOutput{Subject: ti.UserID, Scopes: ti.Scopes}
			out.ClientID, _ = ti.Extra[extraClientID].(string)
			return nil, out, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "secret", Description: "Reveals the demo secret. Needs the mcp:admin scope: calling it with a smaller token starts step-up authorization."},
		func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, secretOutput, error) {
			// The HTTP layer already demanded mcp:admin for this call; the
			// check is repeated here so that the tool stays safe even if
			// that mapping is ever bypassed (say, by a JSON parser that
			// reads the body differently from the SDK's).
			if ti := tokenOf(req); ti == nil || !slices.Contains(ti.Scopes, scopeAdmin) {
				return nil, secretOutput{}, errors.New("the secret tool needs the mcp:admin scope")
			}
			return nil, secretOutput{Secret: "The answer is 42."}, nil
		})

	s.AddPrompt(&mcp.Prompt{
		Name:        "greet",
		Description: "Asks the model to greet someone.",
		Arguments:   []*mcp.PromptArgument{{Name: "name", Description: "Who to greet", Required: true}},
	}, func(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		name := req.Params.Arguments["name"]
		return &mcp.GetPromptResult{
			Description: "A greeting",
			Messages: []*mcp.PromptMessage{{
				Role:    "user",
				Content: &mcp.TextContent{Text: "Say hello to " + name + "."},
			}},
		}, nil
	})

	const aboutURI = "nqrust://demo/about"
	s.AddResource(&mcp.Resource{Name: "about", Title: "About this server", URI: aboutURI, MIMEType: "text/plain"},
		func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			if req.Params.URI != aboutURI {
				return nil, mcp.ResourceNotFoundError(req.Params.URI)
			}
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{
				URI:      aboutURI,
				MIMEType: "text/plain",
				Text:     "A demo MCP server whose tokens come from an NQRust-Identity authorization server in the same process.",
			}}}, nil
		})
	return s
}

type echoInput struct {
	Text string `json:"text" jsonschema:"the text to echo"`
}

type echoOutput struct {
	Text string `json:"text"`
}

type addInput struct {
	A float64 `json:"a" jsonschema:"the first number"`
	B float64 `json:"b" jsonschema:"the second number"`
}

type addOutput struct {
	Sum float64 `json:"sum"`
}

type whoamiOutput struct {
	Subject  string   `json:"subject"`
	ClientID string   `json:"client_id"`
	Scopes   []string `json:"scopes"`
}

type secretOutput struct {
	Secret string `json:"secret"`
}

// tokenOf returns the token the SDK attached to a tool call. The SDK
// hands tools the auth.TokenInfo that its own auth.RequireBearerToken put
// in the HTTP request context; newHandler installs that middleware behind
// ours with [SDKTokenVerifier] for exactly this reason.
func tokenOf(req *mcp.CallToolRequest) *auth.TokenInfo {
	if req == nil || req.Extra == nil {
		return nil
	}
	return req.Extra.TokenInfo
}

// rpcCall is what the scope check needs from one JSON-RPC message: every
// "method" member and every "name" member of its "params". A message
// normally has one of each; keeping all of them means a body that
// repeats a member cannot hide a tool name, whichever occurrence the
// SDK's parser ends up using.
type rpcCall struct {
	methods []string
	names   []string
}

type rpcCallsKey struct{}

// peekRPC reads the JSON-RPC body of a POST (at most maxMCPBody bytes),
// puts the methods and tool names it carries in the request context for
// [requiredScopes], and restores the body for the MCP handler. A larger
// body is refused with 413 before anything else happens. A body that is
// not JSON-RPC passes through with nothing recorded: the MCP handler
// refuses it.
func peekRPC(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxMCPBody+1))
		r.Body.Close()
		if err != nil {
			http.Error(w, "cannot read the request body", http.StatusBadRequest)
			return
		}
		if len(body) > maxMCPBody {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		if calls := parseCalls(body); len(calls) > 0 {
			r = r.WithContext(context.WithValue(r.Context(), rpcCallsKey{}, calls))
		}
		next.ServeHTTP(w, r)
	})
}

// parseCalls scans one JSON-RPC message or a batch of them. Member names
// are matched exactly, as the SDK's decoder does (encoding/json's
// case-insensitive struct matching would read {"NAME":…} where the SDK
// does not). It returns what it found before any syntax error; the MCP
// handler refuses malformed bodies anyway.
func parseCalls(body []byte) []rpcCall {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return nil
	}
	switch tok {
	case json.Delim('{'):
		var c rpcCall
		_ = scanMessage(dec, &c)
		return []rpcCall{c}
	case json.Delim('['):
		var calls []rpcCall
		for dec.More() {
			if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
				return calls
			}
			var c rpcCall
			err := scanMessage(dec, &c)
			calls = append(calls, c)
			if err != nil {
				return calls
			}
		}
		return calls
	}
	return nil
}

// scanMessage reads the members of an object whose '{' was consumed.
func scanMessage(dec *json.Decoder, c *rpcCall) error {
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return err
		}
		switch key {
		case "method":
			v, err := dec.Token()
			if err != nil {
				return err
			}
			if s, ok := v.(string); ok {
				c.methods = append(c.methods, s)
			} else if err := skipRest(dec, v); err != nil {
				return err
			}
		case "params":
			v, err := dec.Token()
			if err != nil {
				return err
			}
			if v != json.Delim('{') {
				if err := skipRest(dec, v); err != nil {
					return err
				}
				continue
			}
			if err := scanParams(dec, c); err != nil {
				return err
			}
		default:
			if err := skipValue(dec); err != nil {
				return err
			}
		}
	}
	_, err := dec.Token() // '}'
	return err
}

// scanParams reads the members of a params object whose '{' was consumed.
func scanParams(dec *json.Decoder, c *rpcCall) error {
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return err
		}
		v, err := dec.Token()
		if err != nil {
			return err
		}
		if s, ok := v.(string); ok && key == "name" {
			c.names = append(c.names, s)
			continue
		}
		if err := skipRest(dec, v); err != nil {
			return err
		}
	}
	_, err := dec.Token() // '}'
	return err
}

// skipValue skips the next value.
func skipValue(dec *json.Decoder) error {
	v, err := dec.Token()
	if err != nil {
		return err
	}
	return skipRest(dec, v)
}

// skipRest skips the rest of a value whose first token was v.
func skipRest(dec *json.Decoder, v json.Token) error {
	if v != json.Delim('{') && v != json.Delim('[') {
		return nil
	}
	for depth := 1; depth > 0; {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
	return nil
}

// scopesForCall maps one MCP method (and tool name) to the scopes it
// needs. Methods not listed (initialize, ping, notifications,
// server/discover) need a valid token and nothing more.
func scopesForCall(method, name string) []string {
	switch {
	case method == "tools/call":
		return append([]string{scopeTools}, guardedTools[name]...)
	case strings.HasPrefix(method, "tools/"):
		return []string{scopeTools}
	case strings.HasPrefix(method, "prompts/"):
		return []string{scopePrompts}
	case strings.HasPrefix(method, "resources/"):
		return []string{scopeResources}
	}
	return nil
}

// requiredScopes is the bearer middleware's ScopesFunc. It returns every
// scope the request needs, so that one 403 names them all (MCP
// 2026-07-28): for the message(s) in the body as recorded by [peekRPC],
// and for the Mcp-Method and Mcp-Name headers of MCP 2026-07-28 clients.
// Both are honoured and their needs united, so a header that disagrees
// with the body can only add requirements, never remove them (the SDK
// also refuses such requests).
//
// A request without credentials is additionally told to get the basic
// scopes: its 401 challenge then names what a client should ask for at
// its first authorization.
func requiredScopes(r *http.Request) []string {
	var need []string
	add := func(list []string) {
		for _, s := range list {
			if !slices.Contains(need, s) {
				need = append(need, s)
			}
		}
	}
	if calls, ok := r.Context().Value(rpcCallsKey{}).([]rpcCall); ok {
		for _, c := range calls {
			for _, m := range c.methods {
				add(scopesForCall(m, ""))
				if m == "tools/call" {
					for _, n := range c.names {
						add(scopesForCall(m, n))
					}
				}
			}
		}
	}
	if m := r.Header.Get("Mcp-Method"); m != "" {
		add(scopesForCall(m, r.Header.Get("Mcp-Name")))
	}
	if len(r.Header.Values("Authorization")) == 0 {
		add(basicScopes)
	}
	return need
}

// describeTools lists the tools and what they need, for the start-up
// message.
func describeTools() string {
	return fmt.Sprintf("echo, add, whoami (%s); secret (%s + %s, step-up)", scopeTools, scopeTools, scopeAdmin)
}
