package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// scenario is one kind of request. do sends one and checks the answer.
type scenario struct {
	name string
	desc string
	do   func(ctx context.Context, c *http.Client) error
}

// Scenario names, as accepted by -scenarios.
const (
	scClientCredentials = "client_credentials"
	scBareSign          = "bare-sign"
	scIntrospect        = "introspect"
	scMCPToolsCall      = "mcp-tools-call"
	scMCPNoAuth         = "mcp-no-auth"
)

var allScenarios = []string{scClientCredentials, scBareSign, scIntrospect, scMCPToolsCall, scMCPNoAuth}

// maxBody bounds what is read of an answer.
const maxBody = 64 << 10

// scenarios returns the scenarios against s. token is a valid access token
// for the MCP server, used by introspection and tools/call.
func (s *stack) scenarios(token string) map[string]scenario {
	ccForm := url.Values{"grant_type": {"client_credentials"}, "scope": {scopeTools}, "resource": {s.mcpURL}}.Encode()
	inForm := url.Values{"token": {token}}.Encode()
	const call = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}`
	post := func(path, body string, hdr func(*http.Request)) func(context.Context, *http.Client) ([]byte, error) {
		u := s.issuer + path
		return func(ctx context.Context, c *http.Client) ([]byte, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(body))
			if err != nil {
				return nil, err
			}
			hdr(req)
			return send(c, req)
		}
	}
	form := func(id, secret string) func(*http.Request) {
		return func(r *http.Request) {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.SetBasicAuth(id, secret)
		}
	}
	tokenReq := post("/token", ccForm, form(serviceClientID, serviceClientSecret))
	bareReq := post(bareTokenPath, ccForm, form(serviceClientID, serviceClientSecret))
	introReq := post("/introspect", inForm, form(rsClientID, rsClientSecret))
	mcpHeader := func(r *http.Request) {
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Accept", "application/json, text/event-stream")
		r.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	}
	mcpReq := post("/mcp", call, func(r *http.Request) {
		mcpHeader(r)
		r.Header.Set("Authorization", "Bearer "+token)
	})
	openReq := post(openMCPPath, call, mcpHeader)
	expect := func(send func(context.Context, *http.Client) ([]byte, error), want ...string) func(context.Context, *http.Client) error {
		return func(ctx context.Context, c *http.Client) error {
			body, err := send(ctx, c)
			if err != nil {
				return err
			}
			for _, w := range want {
				if !bytes.Contains(body, []byte(w)) {
					return fmt.Errorf("answer without %s: %.200q", w, body)
				}
			}
			return nil
		}
	}
	return map[string]scenario{
		scClientCredentials: {scClientCredentials, "POST /token, client_credentials, client_secret_basic",
			expect(tokenReq, `"access_token":"ey`)},
		scBareSign: {scBareSign, "POST " + bareTokenPath + ", only signs the same claims (floor)",
			expect(bareReq, `"access_token":"ey`)},
		scIntrospect: {scIntrospect, "POST /introspect of a valid access token",
			expect(introReq, `"active":true`)},
		scMCPToolsCall: {scMCPToolsCall, "POST /mcp tools/call echo, Bearer, stateless Streamable HTTP",
			expect(mcpReq, `"result"`, `hello`)},
		scMCPNoAuth: {scMCPNoAuth, "POST " + openMCPPath + ", the same tools/call without authentication (floor)",
			expect(openReq, `"result"`, `hello`)},
	}
}

// send does req and returns the body of a 200 answer.
func send(c *http.Client, req *http.Request) ([]byte, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, err
	}
	// Drain what is left so the connection is reused.
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: status %d: %.200q", req.Method, req.URL.Path, resp.StatusCode, body)
	}
	return body, nil
}

// fetchToken gets an access token for the MCP server through the token
// endpoint.
func (s *stack) fetchToken(ctx context.Context, c *http.Client) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {scopeTools}, "resource": {s.mcpURL}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.issuer+"/token", strings.NewReader(form))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(serviceClientID, serviceClientSecret)
	body, err := send(c, req)
	if err != nil {
		return "", err
	}
	const key = `"access_token":"`
	_, rest, ok := bytes.Cut(body, []byte(key))
	tok, _, ok2 := bytes.Cut(rest, []byte(`"`))
	if !ok || !ok2 || len(tok) == 0 {
		return "", fmt.Errorf("token answer without access_token: %.200q", body)
	}
	return string(tok), nil
}

// newClient returns a client keeping up to conns connections to the
// stack, never following redirects.
func newClient(conns int) *http.Client {
	tr := &http.Transport{
		Proxy:               nil, // loopback only, never through a proxy
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// tally is what one scenario did, summed over its slices.
type tally struct {
	requests int
	errors   int
	firstErr error
	planned  time.Duration   // the slices' nominal lengths
	elapsed  time.Duration   // their actual lengths
	cpu      time.Duration   // process CPU time, client and server
	lat      []time.Duration // a bounded sample of latencies
}

// maxSamples bounds the latencies kept per scenario.
const maxSamples = 1 << 20

// run sends requests from conc goroutines until d has passed (or ctx
// ends) and adds what happened to t. A request under way when d passes is
// finished and counted, not cancelled: cancelling would close its
// connection and make the next slice dial again. Each request is bounded
// by the client's timeout.
func (t *tally) run(ctx context.Context, sc scenario, c *http.Client, conc int, d time.Duration) {
	perWorker := max(1, (maxSamples-len(t.lat))/conc)
	type worker struct {
		n, errs int
		err     error
		lat     []time.Duration
	}
	ws := make([]worker, conc)
	var wg sync.WaitGroup
	c0, start := processCPU(), time.Now()
	deadline := start.Add(d)
	for i := range ws {
		w := &ws[i]
		w.lat = make([]time.Duration, 0, min(perWorker, 4096))
		wg.Go(func() {
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(deadline) {
					return
				}
				err := sc.do(ctx, c)
				lat := time.Since(t0)
				if err != nil {
					if ctx.Err() != nil {
						// Interrupted, not a failure.
						return
					}
					w.errs++
					if w.err == nil {
						w.err = err
					}
					continue
				}
				w.n++
				if len(w.lat) < perWorker {
					w.lat = append(w.lat, lat)
				}
			}
		})
	}
	wg.Wait()
	t.planned += d
	t.elapsed += time.Since(start)
	t.cpu += processCPU() - c0
	for i := range ws {
		w := &ws[i]
		t.requests += w.n
		t.errors += w.errs
		if t.firstErr == nil && w.err != nil {
			t.firstErr = w.err
		}
		t.lat = append(t.lat, w.lat...)
	}
}

// result is the summary of a tally.
type result struct {
	name      string
	desc      string
	requests  int
	errors    int
	firstErr  error
	rps       float64
	p50, p99  time.Duration
	cpuPerReq time.Duration // zero when process CPU time is unavailable
	cores     float64       // process CPU time / elapsed time
	overrun   float64       // elapsed / planned time
}

func (t *tally) result(sc scenario) result {
	r := result{name: sc.name, desc: sc.desc, requests: t.requests, errors: t.errors, firstErr: t.firstErr}
	if t.elapsed > 0 {
		r.rps = float64(t.requests) / t.elapsed.Seconds()
		r.cores = float64(t.cpu) / float64(t.elapsed)
	}
	if t.planned > 0 {
		r.overrun = float64(t.elapsed) / float64(t.planned)
	}
	if t.requests > 0 {
		r.cpuPerReq = t.cpu / time.Duration(t.requests)
	}
	if len(t.lat) > 0 {
		slices.Sort(t.lat)
		r.p50 = t.lat[len(t.lat)*50/100]
		r.p99 = t.lat[min(len(t.lat)-1, len(t.lat)*99/100)]
	}
	return r
}
