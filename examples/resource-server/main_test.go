package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nqrust/identity/examples/interop/interoptest"
)

// mcpserverBin is the examples/mcpserver binary, the authorization server
// of the tests, built by TestMain.
var mcpserverBin string

func TestMain(m *testing.M) {
	var err error
	mcpserverBin, err = interoptest.Build("./examples/mcpserver")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// rs is a resource server started in process with run.
type rs struct {
	addr string // listening address
	mu   sync.Mutex
	out  strings.Builder
}

func (s *rs) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// startRS runs the program with args (plus -addr 127.0.0.1:0) until the
// test ends.
func startRS(t *testing.T, args ...string) *rs {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &rs{}
	done := make(chan error, 1)
	go func() {
		err := run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), pw)
		pw.CloseWithError(io.EOF)
		done <- err
	}()
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.out.WriteString(line + "\n")
			s.mu.Unlock()
			if a, ok := strings.CutPrefix(line, "Listening on "); ok && !sent {
				a, _, _ = strings.Cut(a, " ")
				ready <- a
				sent = true
			}
		}
		if !sent {
			close(ready)
		}
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
		if t.Failed() {
			t.Logf("resource server output:\n%s", s.output())
		}
	})
	select {
	case a, ok := <-ready:
		if !ok {
			t.Fatalf("the resource server stopped before listening:\n%s", s.output())
		}
		s.addr = a
	case <-time.After(15 * time.Second):
		t.Fatalf("the resource server is not listening after 15 s:\n%s", s.output())
	}
	return s
}
