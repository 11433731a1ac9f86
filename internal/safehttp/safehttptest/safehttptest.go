package safehttptest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/nqrust/identity/internal/safehttp"
)

// Loopback is the prefix tests allow so that the local server is reachable.
var Loopback = netip.MustParsePrefix("127.0.0.1/32")

// Server is an httptest TLS server with a certificate for chosen names.
type Server struct {
	*httptest.Server
	// Pool trusts the server's certificate.
	Pool *x509.CertPool
	// AddrPort is where the server listens.
	AddrPort netip.AddrPort

	mu     sync.Mutex
	dialed []netip.AddrPort
}

// NewTLSServer starts a TLS server for h whose self-signed certificate is
// valid for names, 127.0.0.1 and ::1. It is closed when the test ends.
func NewTLSServer(t testing.TB, h http.Handler, names ...string) *Server {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "safehttptest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              names,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	// Refused handshakes are the point of several tests; keep them quiet.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	ap, err := netip.ParseAddrPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return &Server{Server: srv, Pool: pool, AddrPort: ap}
}

// Options returns safehttp options under which resolve answers DNS
// (host name → address literals), 127.0.0.1 is allowed, the server's
// certificate is trusted, and every connection to a checked address goes
// to the server whatever the address and port. The addresses connected to
// are recorded (see Dialed).
func (s *Server) Options(resolve map[string][]string) safehttp.Options {
	return safehttp.Options{
		AllowedPrefixes: []netip.Prefix{Loopback},
		LookupNetIP:     Resolver(resolve),
		TLSConfig:       &tls.Config{RootCAs: s.Pool},
		Connect: func(ctx context.Context, network string, ap netip.AddrPort) (net.Conn, error) {
			s.mu.Lock()
			s.dialed = append(s.dialed, ap)
			s.mu.Unlock()
			var d net.Dialer
			return d.DialContext(ctx, "tcp", s.AddrPort.String())
		},
	}
}

// Dialed returns the checked addresses connections were opened to.
func (s *Server) Dialed() []netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]netip.AddrPort(nil), s.dialed...)
}

// Resolver returns a LookupNetIP function answering from m; unknown names
// fail like NXDOMAIN.
func Resolver(m map[string][]string) func(ctx context.Context, network, host string) ([]netip.Addr, error) {
	return func(_ context.Context, _, host string) ([]netip.Addr, error) {
		vs, ok := m[host]
		if !ok {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		out := make([]netip.Addr, 0, len(vs))
		for _, v := range vs {
			a, err := netip.ParseAddr(v)
			if err != nil {
				return nil, fmt.Errorf("safehttptest: bad address %q for %s", v, host)
			}
			out = append(out, a)
		}
		return out, nil
	}
}
