package interoptest

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Demo credentials every started example server is given.
const (
	User     = "alice"
	Password = "correct horse battery staple"
)

// ModuleRoot returns the repository root (the directory holding go.mod),
// searching upwards from the working directory of the test.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("interoptest: go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Build compiles the main package at pkg (a path relative to the module
// root, such as "./examples/mcpserver") and returns the binary's path.
// Tests call it once, from TestMain.
//
// The binary goes to a fixed place under the system's temporary
// directory, shared by every test package of this module, and builds are
// serialised with a lock file: a build that finds the binary up to date
// skips the link, which takes seconds for a binary of this size, so the
// test packages that run the same example link it once between them.
func Build(pkg string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("interoptest: the go command is needed to build %s: %w", pkg, err)
	}
	sum := sha256.Sum256([]byte(root))
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("nqrust-identity-examples-%d", os.Getuid()), hex.EncodeToString(sum[:8]))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	unlock, err := lockFile(out + ".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	cmd := exec.Command(goBin, "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("interoptest: go build %s: %v\n%s", pkg, err, b)
	}
	return out, nil
}

// lockFile takes an exclusive lock by creating path, waiting while
// another process holds it. A lock older than five minutes is taken to
// be left over from a killed process and removed.
func lockFile(path string) (unlock func(), err error) {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err == nil {
			f.Close()
			return func() { os.Remove(path) }, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, err
		}
		if fi, err := os.Stat(path); err == nil && time.Since(fi.ModTime()) > 5*time.Minute {
			os.Remove(path)
			continue
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("interoptest: %s is still locked after five minutes", path)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Process is an example server running as a child process.
type Process struct {
	// Lines are the start-up lines, up to and including the one that says
	// the server listens.
	Lines []string
	// Values are the "Name: value" pairs of the start-up message, such as
	// "MCP endpoint" and "Issuer".
	Values map[string]string

	cmd    *exec.Cmd
	mu     sync.Mutex
	output strings.Builder
	done   chan struct{}
}

// Output returns everything the process printed so far.
func (p *Process) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.output.String()
}

// Start runs bin with args and env (added to this process's environment),
// waits until it prints a line starting with ready, and stops it (SIGTERM,
// then SIGKILL after five seconds) when the test ends. Its output is logged
// when the test fails.
func Start(t testing.TB, bin string, env []string, ready string, args ...string) *Process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Process{cmd: cmd, Values: map[string]string{}, done: make(chan struct{})}
	readyc := make(chan error, 1)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		started := false
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.output.WriteString(line + "\n")
			if !started {
				p.Lines = append(p.Lines, line)
				if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
					if _, seen := p.Values[k]; !seen {
						p.Values[k] = strings.TrimSpace(v)
					}
				}
			}
			p.mu.Unlock()
			if !started && strings.HasPrefix(line, ready) {
				started = true
				readyc <- nil
			}
		}
		if !started {
			readyc <- errors.New("the process ended before it was ready")
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-p.done
		}
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("output of %s:\n%s", filepath.Base(bin), p.Output())
		}
	})
	select {
	case err := <-readyc:
		if err != nil {
			t.Fatalf("%s: %v\n%s", filepath.Base(bin), err, p.Output())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: not ready after 20 s\n%s", filepath.Base(bin), p.Output())
	}
	return p
}

// MCPServer is the example examples/mcpserver running as a process.
type MCPServer struct {
	*Process
	// Issuer is the authorization server's issuer (the public URL).
	Issuer string
	// MCPURL is the MCP endpoint.
	MCPURL string
	// Addr is the address the process listens on, which differs from
	// the issuer's host when -public-url is given.
	Addr string
}

// StartMCPServer runs the examples/mcpserver binary on a free loopback
// port with the demo credentials User and Password and the extra flags.
func StartMCPServer(t testing.TB, bin string, env []string, args ...string) *MCPServer {
	t.Helper()
	args = append([]string{"-addr", "127.0.0.1:0", "-demo-user", User, "-demo-password", Password}, args...)
	p := Start(t, bin, env, "Listening on ", args...)
	s := &MCPServer{Process: p, Issuer: p.Values["Issuer"], MCPURL: p.Values["MCP endpoint"]}
	if last := p.Lines[len(p.Lines)-1]; strings.HasPrefix(last, "Listening on ") {
		s.Addr, _, _ = strings.Cut(strings.TrimPrefix(last, "Listening on "), " ")
	}
	if s.Issuer == "" || s.MCPURL == "" || s.Addr == "" {
		t.Fatalf("mcpserver: no issuer or MCP endpoint in its start-up output:\n%s", p.Output())
	}
	return s
}

// Context returns a context that ends with the test or after d.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
