package safehttp

import (
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Defaults applied by [New] to zero Options fields.
const (
	DefaultTimeout   = 5 * time.Second
	DefaultMaxBytes  = 1 << 20
	DefaultUserAgent = "nqrust-identity (+https://github.com/nqrust/identity)"
)

// Options configures a [Client]. The zero value is the safe production
// setting: only public addresses, 5 s timeout, 1 MiB cap, system roots.
type Options struct {
	// Timeout bounds a whole fetch: lookup, connect, TLS, headers and body.
	// Zero means DefaultTimeout.
	Timeout time.Duration
	// ResponseHeaderTimeout bounds the wait for response headers after the
	// request was written. Zero means Timeout.
	ResponseHeaderTimeout time.Duration
	// MaxBytes is the default body cap for Get (after decompression).
	// Zero means DefaultMaxBytes.
	MaxBytes int64

	// AllowLoopback permits 127.0.0.0/8 and ::1 (and their IPv4-mapped
	// forms). For development servers that themselves run on loopback only.
	AllowLoopback bool
	// AllowPrivate permits RFC 1918 addresses and IPv6 unique-local
	// addresses. For development only; link-local and cloud metadata
	// addresses stay blocked.
	AllowPrivate bool
	// AllowedPrefixes are permitted whatever their category. Meant for
	// tests (an httptest server on 127.0.0.1) and for a known internal
	// service; never list 169.254.0.0/16.
	AllowedPrefixes []netip.Prefix

	// LookupNetIP resolves host names; network is "ip", "ip4" or "ip6".
	// Nil means net.DefaultResolver.LookupNetIP. Tests inject answers here.
	LookupNetIP func(ctx context.Context, network, host string) ([]netip.Addr, error)
	// Connect opens the connection to an address that already passed the
	// checks. Nil means a net.Dialer whose Control hook checks the address
	// once more. Tests use it to send connections to a local test server
	// (an https URL without port dials port 443).
	Connect func(ctx context.Context, network string, addr netip.AddrPort) (net.Conn, error)
	// TLSConfig is cloned for outbound TLS (tests set RootCAs). Nil means
	// system roots, TLS 1.2 minimum.
	TLSConfig *tls.Config
	// Proxy, when set, sends every request through this HTTP proxy. Proxy
	// environment variables are never consulted. With a proxy, IP literal
	// hosts are still checked here, but host names are resolved by the
	// proxy, which must then enforce the address policy itself.
	Proxy *url.URL
	// UserAgent is sent on every request. Empty means DefaultUserAgent.
	UserAgent string
}

// Client is a safe outbound HTTP client. It is safe for concurrent use.
type Client struct {
	hc        *http.Client
	policy    addrPolicy
	lookup    func(ctx context.Context, network, host string) ([]netip.Addr, error)
	connect   func(ctx context.Context, network string, addr netip.AddrPort) (net.Conn, error)
	dialer    net.Dialer
	proxyAddr string
	timeout   time.Duration
	maxBytes  int64
	userAgent string
}

// New returns a Client for opts. It fails on negative durations or sizes,
// invalid prefixes or an unusable proxy URL.
func New(opts Options) (*Client, error) {
	if opts.Timeout < 0 || opts.ResponseHeaderTimeout < 0 || opts.MaxBytes < 0 {
		return nil, errors.New("safehttp: negative Timeout, ResponseHeaderTimeout or MaxBytes")
	}
	for _, p := range opts.AllowedPrefixes {
		if !p.IsValid() {
			return nil, fmt.Errorf("safehttp: invalid allowed prefix %v", p)
		}
	}
	c := &Client{
		policy: addrPolicy{
			allowLoopback: opts.AllowLoopback,
			allowPrivate:  opts.AllowPrivate,
			allowed:       append([]netip.Prefix(nil), opts.AllowedPrefixes...),
		},
		lookup:    opts.LookupNetIP,
		connect:   opts.Connect,
		timeout:   opts.Timeout,
		maxBytes:  opts.MaxBytes,
		userAgent: opts.UserAgent,
	}
	for i, p := range c.policy.allowed {
		c.policy.allowed[i] = p.Masked()
	}
	if c.lookup == nil {
		c.lookup = net.DefaultResolver.LookupNetIP
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if c.maxBytes == 0 {
		c.maxBytes = DefaultMaxBytes
	}
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	headerTimeout := opts.ResponseHeaderTimeout
	if headerTimeout == 0 {
		headerTimeout = c.timeout
	}
	c.dialer = net.Dialer{Timeout: c.timeout, Control: c.control}
	if c.connect == nil {
		c.connect = func(ctx context.Context, network string, ap netip.AddrPort) (net.Conn, error) {
			return c.dialer.DialContext(ctx, network, ap.String())
		}
	}

	var tlsConf *tls.Config
	if opts.TLSConfig != nil {
		tlsConf = opts.TLSConfig.Clone()
	} else {
		tlsConf = &tls.Config{}
	}
	if tlsConf.MinVersion == 0 {
		tlsConf.MinVersion = tls.VersionTLS12
	}
	tr := &http.Transport{
		DialContext:            c.dial,
		TLSClientConfig:        tlsConf,
		TLSHandshakeTimeout:    c.timeout,
		ResponseHeaderTimeout:  headerTimeout,
		DisableCompression:     true, // gzip is handled in Get, under the cap
		MaxResponseHeaderBytes: 64 << 10,
		MaxIdleConns:           16,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        30 * time.Second,
		ForceAttemptHTTP2:      true,
	}
	if opts.Proxy != nil {
		pu := *opts.Proxy
		if (pu.Scheme != "http" && pu.Scheme != "https") || pu.Hostname() == "" {
			return nil, errors.New("safehttp: Proxy must be an http or https URL with a host")
		}
		port := pu.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[pu.Scheme]
		}
		c.proxyAddr = net.JoinHostPort(pu.Hostname(), port)
		tr.Proxy = http.ProxyURL(&pu)
	}
	c.hc = &http.Client{
		Transport: &guard{next: tr, c: c},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
		Timeout: c.timeout,
	}
	return c, nil
}

// HTTPClient returns the underlying *http.Client for libraries that need
// one. It enforces the URL, address, redirect and timeout rules but not the
// body cap or content-type checks: prefer Get, and cap the body yourself
// (http.MaxBytesReader or io.LimitReader) when using this.
func (c *Client) HTTPClient() *http.Client { return c.hc }

// CheckAddr returns nil if a may be dialled under the client's policy, and
// an *Error of KindBlockedAddress otherwise.
func (c *Client) CheckAddr(a netip.Addr) error {
	if cat := c.policy.check(a); cat != CatPublic {
		return &Error{Kind: KindBlockedAddress, Addr: a, Category: cat, Detail: "blocked address"}
	}
	return nil
}

// CheckURL validates a URL as Get would before any network activity:
// absolute http or https, a valid host, no userinfo, a numeric port. An IP
// literal host is also checked against the address policy.
func (c *Client) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return &Error{Kind: KindBadURL, Detail: "malformed URL"}
	}
	return c.checkURL(u)
}

func (c *Client) checkURL(u *url.URL) error {
	bad := func(d string) error { return &Error{Kind: KindBadURL, URL: redact(u), Detail: d} }
	if u.Scheme != "http" && u.Scheme != "https" {
		return bad("scheme must be http or https")
	}
	if u.User != nil {
		return bad("userinfo not allowed")
	}
	if u.Opaque != "" {
		return bad("URL must be hierarchical")
	}
	host := u.Hostname()
	if !ValidHost(host) {
		return bad("host is not a DNS name or canonical IP address")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 || p[0] == '0' {
			return bad("invalid port")
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return bad("invalid port")
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if err := c.CheckAddr(a); err != nil {
			e := err.(*Error)
			e.URL = redact(u)
			return e
		}
	}
	return nil
}

// guard validates every request's URL before the transport sees it, also
// for callers that use HTTPClient directly, and sets the User-Agent.
type guard struct {
	next http.RoundTripper
	c    *Client
}

func (g *guard) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := g.c.checkURL(r.URL); err != nil {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, err
	}
	if r.Header.Get("User-Agent") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("User-Agent", g.c.userAgent)
	}
	return g.next.RoundTrip(r)
}

// CloseIdleConnections closes the transport's idle connections, so that
// http.Client.CloseIdleConnections works through the guard.
func (g *guard) CloseIdleConnections() {
	if c, ok := g.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// dial resolves host once, refuses the whole answer if any address is
// blocked (an attacker may mix public and internal answers), and connects
// to the checked addresses only.
func (c *Client) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if c.proxyAddr != "" && addr == c.proxyAddr {
		// The operator's egress proxy; its address is trusted by
		// configuration and may well be private.
		var d net.Dialer
		d.Timeout = c.timeout
		return d.DialContext(ctx, network, addr)
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, &Error{Kind: KindBadURL, Detail: "bad dial address", Err: err}
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return nil, &Error{Kind: KindBadURL, Detail: "bad dial port"}
	}
	if !ValidHost(host) {
		return nil, &Error{Kind: KindBadURL, Detail: "host is not a DNS name or canonical IP address"}
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		lookupNet := "ip"
		switch network {
		case "tcp4":
			lookupNet = "ip4"
		case "tcp6":
			lookupNet = "ip6"
		}
		addrs, err = c.lookup(ctx, lookupNet, host)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, &Error{Kind: KindTransport, Detail: "DNS lookup failed", Err: err}
		}
		if len(addrs) == 0 {
			return nil, &Error{Kind: KindTransport, Detail: "DNS lookup returned no addresses"}
		}
	}
	for _, a := range addrs {
		if err := c.CheckAddr(a); err != nil {
			return nil, err
		}
	}
	var firstErr error
	for _, a := range addrs {
		conn, err := c.connect(ctx, network, netip.AddrPortFrom(a.Unmap(), uint16(port)))
		if err == nil {
			return conn, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, firstErr
}

// control re-checks the address the socket is about to connect to. dial
// already checked it; this catches any path that reaches the dialer with
// an unchecked address.
func (c *Client) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &Error{Kind: KindBlockedAddress, Detail: "unparseable dial address"}
	}
	return c.CheckAddr(ap.Addr())
}

// GetOptions tunes one Get.
type GetOptions struct {
	// MaxBytes caps the body after decompression; zero means the client's
	// MaxBytes.
	MaxBytes int64
	// Accept is the Accept header; empty sends none.
	Accept string
	// RequireJSON refuses a 200 response whose Content-Type is not
	// application/json or application/<subtype>+json.
	RequireJSON bool
	// AllowNotModified accepts 304 (for conditional requests) as a success
	// with an empty body.
	AllowNotModified bool
	// Header holds extra request headers such as If-None-Match.
	Header http.Header
	// Timeout bounds this fetch; zero (or, for Get, anything longer than
	// the client's Timeout) means the client's Timeout.
	Timeout time.Duration
}

// Response is a successful fetch.
type Response struct {
	// StatusCode is 200, or 304 when AllowNotModified was set.
	StatusCode int
	// Header is the response header.
	Header http.Header
	// Body is the decoded body (empty for 304).
	Body []byte
}

// Get fetches rawURL through c. Only 200 (and 304 if allowed) succeed; a
// 3xx is a KindRedirect error, any other status a KindStatus error. The
// body is decompressed if gzip-encoded and capped while reading.
func (c *Client) Get(ctx context.Context, rawURL string, o GetOptions) (*Response, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, &Error{Kind: KindBadURL, Detail: "malformed URL"}
	}
	if err := c.checkURL(u); err != nil {
		return nil, err
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = c.maxBytes
	}
	if o.Timeout <= 0 || o.Timeout > c.timeout {
		o.Timeout = c.timeout
	}
	return fetch(ctx, c.hc, u, o, c.userAgent)
}

// Fetch is Get over any *http.Client, for callers that were handed one.
// It applies the URL syntax rules, refuses redirects, sends no cookies,
// and applies the status, content-type, timeout and body-cap rules; the
// address checks are only as good as hc's dialer, so pass a Client's
// HTTPClient unless you route through an egress proxy that enforces them.
// Zero GetOptions limits mean DefaultMaxBytes and DefaultTimeout.
func Fetch(ctx context.Context, hc *http.Client, rawURL string, o GetOptions) (*Response, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, &Error{Kind: KindBadURL, Detail: "malformed URL"}
	}
	var syntaxOnly Client
	syntaxOnly.policy.allowed = []netip.Prefix{netip.PrefixFrom(netip.IPv4Unspecified(), 0), netip.PrefixFrom(netip.IPv6Unspecified(), 0)}
	if err := syntaxOnly.checkURL(u); err != nil {
		return nil, err
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	cp := *hc
	cp.Jar = nil
	cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return fetch(ctx, &cp, u, o, DefaultUserAgent)
}

func fetch(ctx context.Context, hc *http.Client, u *url.URL, o GetOptions, userAgent string) (*Response, error) {
	where := redact(u)
	limit := o.MaxBytes
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, &Error{Kind: KindBadURL, URL: where, Detail: "malformed URL", Err: err}
	}
	for k, vs := range o.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if o.Accept != "" {
		req.Header.Set("Accept", o.Accept)
	}
	req.Header.Set("Accept-Encoding", "gzip")
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", userAgent)
	}

	resp, err := hc.Do(req)
	if err == nil && ctx.Err() != nil {
		// net/http may still hand over a response that raced with the
		// cancellation (a server answering the moment it sees the
		// connection close); it did not arrive in time.
		resp.Body.Close()
		err = ctx.Err()
	}
	if err != nil {
		return nil, wrap(parent, where, o.Timeout, err)
	}
	defer resp.Body.Close()

	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusNotModified && o.AllowNotModified:
		return &Response{StatusCode: resp.StatusCode, Header: resp.Header}, nil
	case resp.StatusCode >= 300 && resp.StatusCode < 400 && resp.StatusCode != http.StatusNotModified:
		return nil, &Error{Kind: KindRedirect, URL: where, StatusCode: resp.StatusCode, Detail: "redirect refused, status"}
	default:
		return nil, &Error{Kind: KindStatus, URL: where, StatusCode: resp.StatusCode, Detail: "unexpected status"}
	}
	if o.RequireJSON {
		if mt, ok := isJSON(resp.Header.Get("Content-Type")); !ok {
			return nil, &Error{Kind: KindContentType, URL: where, ContentType: clean(mt, 64), Detail: "not a JSON content type"}
		}
	}

	var body io.Reader = &capReader{r: resp.Body, n: limit}
	switch enc := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
		if resp.ContentLength > limit {
			return nil, &Error{Kind: KindTooLarge, URL: where, Detail: fmt.Sprintf("body larger than %d bytes", limit)}
		}
	case "gzip", "x-gzip":
		// Compressed input of a body within the cap is at most slightly
		// larger than the cap (stored blocks); bound it too, so a stream
		// of empty blocks cannot run until the timeout.
		body = &capReader{r: resp.Body, n: limit + limit/64 + 1024}
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, readErr(parent, where, limit, o.Timeout, err)
		}
		defer zr.Close()
		body = &capReader{r: zr, n: limit}
	default:
		return nil, &Error{Kind: KindTransport, URL: where, Detail: "unsupported Content-Encoding"}
	}
	buf := make([]byte, 0, min(limit+1, 8<<10))
	data, err := readAll(body, buf)
	if err == nil && ctx.Err() != nil {
		err = ctx.Err() // the body completed only because the exchange was torn down
	}
	if err != nil {
		return nil, readErr(parent, where, limit, o.Timeout, err)
	}
	return &Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

// IsJSONContentType reports whether a Content-Type header value names JSON:
// application/json or application/<subtype>+json, parameters allowed.
func IsJSONContentType(v string) bool {
	_, ok := isJSON(v)
	return ok
}

func isJSON(v string) (string, bool) {
	mt, _, err := mime.ParseMediaType(v)
	if err != nil {
		return v, false
	}
	if mt == "application/json" {
		return mt, true
	}
	sub, ok := strings.CutPrefix(mt, "application/")
	return mt, ok && len(sub) > len("+json") && strings.HasSuffix(sub, "+json")
}

var errTooLarge = errors.New("body exceeds cap")

// capReader fails with errTooLarge as soon as more than n bytes were read,
// instead of silently truncating like io.LimitReader.
type capReader struct {
	r io.Reader
	n int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.n < 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > c.n+1 {
		p = p[:c.n+1]
	}
	n, err := c.r.Read(p)
	c.n -= int64(n)
	if c.n < 0 {
		return n, errTooLarge
	}
	return n, err
}

func readAll(r io.Reader, b []byte) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				return b, nil
			}
			return nil, err
		}
	}
}

func readErr(parent context.Context, where string, limit int64, timeout time.Duration, err error) error {
	if errors.Is(err, errTooLarge) {
		return &Error{Kind: KindTooLarge, URL: where, Detail: fmt.Sprintf("body larger than %d bytes", limit)}
	}
	if errors.Is(err, gzip.ErrHeader) || errors.Is(err, gzip.ErrChecksum) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &Error{Kind: KindTransport, URL: where, Detail: "corrupt or truncated body", Err: err}
	}
	return wrap(parent, where, timeout, err)
}

// wrap turns a transport error into an *Error, keeping an *Error raised by
// the dialer or guard.
func wrap(parent context.Context, where string, timeout time.Duration, err error) error {
	var se *Error
	if errors.As(err, &se) {
		cp := *se
		if cp.URL == "" {
			cp.URL = where
		}
		return &cp
	}
	if errors.Is(parent.Err(), context.Canceled) {
		return &Error{Kind: KindTransport, URL: where, Detail: "request cancelled", Err: context.Canceled}
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return &Error{Kind: KindTimeout, URL: where, Detail: fmt.Sprintf("no complete response within %v", timeout), Err: context.DeadlineExceeded}
	}
	return &Error{Kind: KindTransport, URL: where, Detail: "request failed", Err: err}
}
