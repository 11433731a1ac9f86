// Command loadtest measures NQRust-Identity over HTTP. It builds the stack
// of examples/mcpserver in process from the library packages (an
// authorization server on a memory store; an MCP server on the MCP Go
// SDK's stateless Streamable HTTP transport behind the authz/bearer
// middleware), serves it on a loopback port, and drives it from N
// concurrent connections in the same process:
//
//	client_credentials  POST /token, a confidential client (client_secret_basic)
//	bare-sign           POST /bare/token, a handler that only signs the same
//	                    JWT claims with the same go-jose ES256 signer: the floor
//	introspect          POST /introspect of a valid access token (RFC 7662)
//	mcp-tools-call      POST /mcp, an authenticated tools/call (one token reused)
//	mcp-no-auth         POST /open/mcp, the same MCP server without authentication:
//	                    the floor of mcp-tools-call
//
// The scenarios take turns in short slices (-slice), so that a change in
// the machine's load during the run touches them all alike, and the
// ratios of each scenario to its floor compare like with like. It prints
// requests per second, p50 and p99 latency and process CPU time per
// request (client and server together) for each, and the ratios.
//
//	go run ./examples/loadtest -duration 10s -concurrency 16
//
// Every request goes to 127.0.0.1; the run stops by itself after
// duration × scenarios (plus a short warm-up), or at Ctrl-C.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		stop()
		os.Exit(1)
	}
}

// config is the command line.
type config struct {
	duration    time.Duration // per scenario
	concurrency int
	slice       time.Duration
	warmup      time.Duration
	scenarios   []string
	cpuProfile  string
}

func parseFlags(args []string, out io.Writer) (*config, error) {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(out)
	c := &config{}
	var names string
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "measured time per scenario (100ms to 1h)")
	fs.IntVar(&c.concurrency, "concurrency", 16, "concurrent connections (1 to 1024)")
	fs.DurationVar(&c.slice, "slice", 500*time.Millisecond, "the scenarios take turns in slices of this length")
	fs.DurationVar(&c.warmup, "warmup", 500*time.Millisecond, "unmeasured warm-up per scenario (0 to 1m)")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured part to this file")
	fs.StringVar(&names, "scenarios", strings.Join(allScenarios, ","), "comma-separated scenarios to run")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch {
	case c.duration < 100*time.Millisecond || c.duration > time.Hour:
		return nil, fmt.Errorf("-duration %v: want 100ms to 1h", c.duration)
	case c.concurrency < 1 || c.concurrency > 1024:
		return nil, fmt.Errorf("-concurrency %d: want 1 to 1024", c.concurrency)
	case c.slice < 10*time.Millisecond:
		return nil, fmt.Errorf("-slice %v: want at least 10ms", c.slice)
	case c.warmup < 0 || c.warmup > time.Minute:
		return nil, fmt.Errorf("-warmup %v: want 0 to 1m", c.warmup)
	}
	seen := map[string]bool{}
	for n := range strings.SplitSeq(names, ",") {
		n = strings.TrimSpace(n)
		if n == "" || seen[n] {
			continue
		}
		known := false
		for _, a := range allScenarios {
			known = known || a == n
		}
		if !known {
			return nil, fmt.Errorf("-scenarios: unknown scenario %q (known: %s)", n, strings.Join(allScenarios, ", "))
		}
		seen[n] = true
		c.scenarios = append(c.scenarios, n)
	}
	if len(c.scenarios) == 0 {
		return nil, errors.New("-scenarios: none given")
	}
	return c, nil
}

func run(ctx context.Context, args []string, out io.Writer) error {
	cfg, err := parseFlags(args, out)
	if err != nil {
		return err
	}
	results, err := measure(ctx, cfg, out)
	if err != nil {
		return err
	}
	report(out, cfg, results)
	for _, r := range results {
		if r.errors > 0 {
			return fmt.Errorf("%s: %d errors, first: %v", r.name, r.errors, r.firstErr)
		}
	}
	return nil
}

// measure builds the stack and runs the scenarios of cfg against it.
// Progress goes to log (nil for none).
func measure(ctx context.Context, cfg *config, log io.Writer) (_ []result, err error) {
	if log == nil {
		log = io.Discard
	}
	s, err := newStack()
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, s.Close()) }()
	client := newClient(cfg.concurrency)
	defer client.CloseIdleConnections()

	token, err := s.fetchToken(ctx, client)
	if err != nil {
		return nil, fmt.Errorf("first token: %w", err)
	}
	all := s.scenarios(token)
	scs := make([]scenario, len(cfg.scenarios))
	for i, n := range cfg.scenarios {
		scs[i] = all[n]
		// One request each first, so a broken setup fails at once with
		// its reason instead of as a column of errors.
		if err := scs[i].do(ctx, client); err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
	}
	fmt.Fprintf(log, "loadtest: %s, %d connections, %v per scenario in %v slices\n", s.issuer, cfg.concurrency, cfg.duration, cfg.slice)
	if cfg.warmup > 0 {
		for _, sc := range scs {
			var t tally
			t.run(ctx, sc, client, cfg.concurrency, cfg.warmup)
		}
	}
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	}
	tallies := make([]tally, len(scs))
	for done := time.Duration(0); done < cfg.duration; done += cfg.slice {
		d := min(cfg.slice, cfg.duration-done)
		// Rotate who goes first, so no scenario always follows the same one.
		round := int(done / cfg.slice)
		for k := range scs {
			i := (k + round) % len(scs)
			tallies[i].run(ctx, scs[i], client, cfg.concurrency, d)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	results := make([]result, len(scs))
	for i := range scs {
		results[i] = tallies[i].result(scs[i])
	}
	return results, nil
}

// report prints the results as a table, then the ratios.
func report(out io.Writer, cfg *config, results []result) {
	fmt.Fprintf(out, "\n%s %s/%s, GOMAXPROCS %d, %d connections, %v per scenario in %v slices\n\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), cfg.concurrency, cfg.duration, cfg.slice)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\trequests\terrors\treq/s\tp50\tp99\tCPU/req\tCPUs busy\t")
	byName := map[string]result{}
	for _, r := range results {
		byName[r.name] = r
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%s\t%s\t%s\t%.2f\t\n", r.name, r.requests, r.errors, r.rps, us(r.p50), us(r.p99), us(r.cpuPerReq), r.cores)
	}
	tw.Flush()
	fmt.Fprintln(out)
	for _, r := range results {
		fmt.Fprintf(out, "  %-18s %s\n", r.name, r.desc)
	}
	fmt.Fprintln(out)
	for _, p := range [][2]string{{scClientCredentials, scBareSign}, {scMCPToolsCall, scMCPNoAuth}} {
		r, ok1 := byName[p[0]]
		floor, ok2 := byName[p[1]]
		if !ok1 || !ok2 || floor.rps == 0 {
			continue
		}
		fmt.Fprintf(out, "%s / %s: %.2f of the req/s", p[0], p[1], r.rps/floor.rps)
		if p[0] == scClientCredentials {
			fmt.Fprint(out, " (issue 10 target >= 0.85)")
		}
		if r.cpuPerReq > 0 && floor.cpuPerReq > 0 {
			x := float64(r.cpuPerReq) / float64(floor.cpuPerReq)
			fmt.Fprintf(out, ", %.2fx the CPU per request (%.2f of the req/s when CPU-bound)", x, 1/x)
		}
		fmt.Fprintln(out)
	}
	for _, r := range results {
		if r.overrun > 1.2 {
			fmt.Fprintf(out, "warning: %s's slices lasted %.1fx their length: requests waited for a CPU, the machine is busy and its req/s are not reliable\n", r.name, r.overrun)
		}
	}
	for _, r := range results {
		if r.errors > 0 {
			fmt.Fprintf(out, "%s: first error: %v\n", r.name, r.firstErr)
		}
	}
}

// us formats a duration in microseconds (milliseconds from 10 ms).
func us(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	}
}
