package integration_test

import (
	"bytes"
	"context"
	"net/url"
	"runtime"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/nqrust/identity/internal/pgtest"
)

// outcome is one token request of the load, with when it ended.
type outcome struct {
	at     time.Time
	status int
	err    string
	desc   string
}

// TestPostgresOutageUnderLoad stops PostgreSQL while several goroutines
// request tokens (client_credentials of a dynamically registered
// confidential client, which the server must look up in the database,
// and one client refreshing its tokens all along).
// While the database is down every failure is 503 server_error (never a
// 500, never invalid_client, which would make clients register again, and
// never a panic); once it is back, requests succeed again without
// restarting the server; the refreshing client keeps its grant; and the
// outage leaves no goroutine behind.
//
// Not parallel: it counts the process's goroutines.
func TestPostgresOutageUnderLoad(t *testing.T) {
	cluster := pgtest.NewCluster(t)
	dsn := cluster.NewDatabase(t)
	clk := newClock()
	n := newNode(t, "A", dsn, clk, withRegistration)
	reg := register(t, n, `{"client_name":"service","grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_basic"}`)
	if reg.ClientSecret == "" {
		t.Fatal("confidential registration without a client_secret")
	}
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {resource}}
	request := func(ctx context.Context) outcome {
		r := postToken(ctx, n, form, reg.ClientID, reg.ClientSecret)
		return outcome{at: time.Now(), status: r.status, err: r.Error, desc: r.Description}
	}

	// One client refreshes all along, keeping the refresh token it has
	// until a refresh succeeds, as clients do on 503: an outage must not
	// cost it its grant.
	var rt string
	refresh := func(ctx context.Context) outcome {
		r := postToken(ctx, n, refreshForm(publicID, rt), "", "")
		if r.status == 200 {
			rt = r.RefreshToken
		}
		return outcome{at: time.Now(), status: r.status, err: r.Error, desc: r.Description}
	}
	rt = initialRefreshToken(t, n)

	const workers = 8
	// load runs the workers (the last one refreshing) until stop is
	// closed. count tells how many requests ended after a time; wait
	// returns what each request got once the workers are done.
	load := func(stop <-chan struct{}) (count func(after time.Time) int, wait func() []outcome) {
		var (
			mu  sync.Mutex
			out []outcome
			wg  sync.WaitGroup
		)
		for w := range workers {
			do := request
			if w == workers-1 {
				do = refresh
			}
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					o := do(ctx)
					cancel()
					mu.Lock()
					out = append(out, o)
					mu.Unlock()
					if o.status != 200 {
						// Clients back off on 503; so does this one, a little.
						time.Sleep(5 * time.Millisecond)
					}
				}
			})
		}
		count = func(after time.Time) int {
			mu.Lock()
			defer mu.Unlock()
			c := 0
			for _, o := range out {
				if o.at.After(after) {
					c++
				}
			}
			return c
		}
		return count, func() []outcome { wg.Wait(); return out }
	}
	// until waits atLeast, then until count reports enough requests
	// since the time given (the machine may be slow), at most 10 s.
	until := func(count func(time.Time) int, since time.Time, atLeast time.Duration, enough int) {
		time.Sleep(atLeast)
		for deadline := time.Now().Add(10 * time.Second); count(since) < enough && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
	}

	// Warm up with the same load so that the baseline includes the
	// connection pools and every lazily started goroutine.
	warm := make(chan struct{})
	count, wait := load(warm)
	until(count, time.Time{}, 200*time.Millisecond, 2*workers)
	close(warm)
	for _, o := range wait() {
		if o.status != 200 {
			t.Fatalf("before the outage: %d %s %s", o.status, o.err, o.desc)
		}
	}
	n.tr.CloseIdleConnections()
	baseline := settledGoroutines(0, time.Second)

	stop := make(chan struct{})
	count, wait = load(stop)
	until(count, time.Time{}, 300*time.Millisecond, 2*workers)
	stopBegin := time.Now()
	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	stopDone := time.Now()
	until(count, stopDone, time.Second, 4*workers)
	startBegin := time.Now()
	if err := cluster.Start(); err != nil {
		t.Fatal(err)
	}
	startDone := time.Now()
	// Run until a streak of successes shows the server is back.
	deadline := time.Now().Add(10 * time.Second)
	for {
		time.Sleep(200 * time.Millisecond)
		if o := request(t.Context()); o.status == 200 {
			break
		}
		if time.Now().After(deadline) {
			close(stop)
			wait()
			t.Fatal("token requests still fail 10 s after PostgreSQL came back")
		}
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	outcomes := wait()

	var before, down, after, downOK, after503 int
	var firstOK time.Time
	for _, o := range outcomes {
		if o.status != 200 && (o.status != 503 || o.err != "server_error") {
			t.Errorf("a request got %d %q (%s), want 200 or 503 server_error", o.status, o.err, o.desc)
		}
		switch {
		case o.at.Before(stopBegin):
			before++
			if o.status != 200 {
				t.Errorf("before the outage: %d %s", o.status, o.err)
			}
		case o.at.After(stopDone) && o.at.Before(startBegin):
			down++
			if o.status == 200 {
				downOK++
			}
		case o.at.After(startDone):
			after++
			if o.status == 200 && firstOK.IsZero() {
				firstOK = o.at
			}
			if o.status != 200 {
				after503++
			}
		}
	}
	if before == 0 || down < workers || after == 0 {
		t.Fatalf("load too thin to judge: %d requests before, %d during, %d after the outage", before, down, after)
	}
	if downOK != 0 {
		t.Errorf("%d of %d requests succeeded while PostgreSQL was down", downOK, down)
	}
	if firstOK.IsZero() {
		t.Fatal("no request succeeded after PostgreSQL came back")
	}
	// Once one request succeeded the pool is usable; at most one failure
	// per pooled connection (16) that died with the server may follow.
	late := 0
	for _, o := range outcomes {
		if o.at.After(firstOK) && o.status != 200 {
			late++
		}
	}
	if late > 16 {
		t.Errorf("%d requests failed after the first success following the restart", late)
	}
	t.Logf("%d requests before, %d while down (all 503), %d after the restart (%d of them 503); recovered %v after the server accepted connections",
		before, down, after, after503, firstOK.Sub(startDone).Round(time.Millisecond))

	if o := refresh(t.Context()); o.status != 200 {
		t.Fatalf("the refreshing client lost its grant in the outage: %d %s %s", o.status, o.err, o.desc)
	}

	n.tr.CloseIdleConnections()
	got := settledGoroutines(baseline, 5*time.Second)
	if got > baseline {
		var buf bytes.Buffer
		_ = pprof.Lookup("goroutine").WriteTo(&buf, 1)
		t.Fatalf("goroutines: %d before the outage, %d after it settled:\n%s", baseline, got, buf.String())
	}
	t.Logf("goroutines: %d before the outage, %d after", baseline, got)
}

// settledGoroutines waits up to d for the number of goroutines to fall to
// want (or, with want 0, to stop changing) and returns it.
func settledGoroutines(want int, d time.Duration) int {
	deadline := time.Now().Add(d)
	last, stable := runtime.NumGoroutine(), 0
	for time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		runtime.GC()
		n := runtime.NumGoroutine()
		switch {
		case want > 0 && n <= want:
			return n
		case want == 0 && n == last:
			if stable++; stable == 10 {
				return n
			}
		default:
			stable = 0
		}
		last = n
	}
	return last
}
