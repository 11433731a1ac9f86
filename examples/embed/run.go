package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// run parses args, starts the app and serves until ctx ends. The start-up
// message goes to stdout; its last line says the app is listening.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	return runWith(ctx, args, stdout, pbkdf2Rounds)
}

// runWith is run with a PBKDF2 iteration count (tests lower it).
func runWith(ctx context.Context, args []string, stdout io.Writer, rounds int) error {
	fs := flag.NewFlagSet("embed", flag.ContinueOnError)
	fs.SetOutput(stdout)
	addr := fs.String("addr", "127.0.0.1:8081", "listen address (port 0 picks a free port)")
	password := fs.String("demo-password", "", "password of the demo users alice and bob (default: random, printed)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *password == "" {
		*password = randomPassword()
	}
	log := slog.New(slog.NewTextHandler(stdout, &slog.HandlerOptions{Level: slog.LevelWarn}))

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	base := baseURL(ln.Addr())
	a, err := newApp(*password, rounds, time.Now)
	if err != nil {
		return err
	}
	h, err := newHandler(a, base, log)
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	fmt.Fprintf(stdout, `Acme Notes, with NQRust-Identity embedded

  App:            %s/
  MCP endpoint:   %s/mcp
  Issuer:         %s/oauth
  Users:          alice, bob
  Password:       %s

Listening on %s (press Ctrl+C to stop)
`, base, base, base, *password, ln.Addr())

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutCtx); err != nil {
		hs.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// baseURL is "http://" + the bound address, with an unspecified host
// shown as 127.0.0.1.
func baseURL(bound net.Addr) string {
	ap, err := netip.ParseAddrPort(bound.String())
	if err != nil {
		return "http://" + bound.String()
	}
	host := ap.Addr().Unmap()
	if host.IsUnspecified() {
		host = netip.MustParseAddr("127.0.0.1")
	}
	return "http://" + netip.AddrPortFrom(host, ap.Port()).String()
}

// randomPassword returns 16 characters from an alphabet without look-alike
// characters.
func randomPassword() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	var b [16]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:])
}
