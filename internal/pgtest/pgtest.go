package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx"
)

// ErrUnavailable means the PostgreSQL server binaries were not found.
var ErrUnavailable = errors.New("pgtest: PostgreSQL server binaries (initdb, postgres) not found on PATH or in /usr/lib/postgresql/*/bin")

// BinDir returns the directory holding initdb and postgres.
func BinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// Newest major version first.
	slices.SortFunc(dirs, func(a, b string) int { return versionOf(b) - versionOf(a) })
	for _, dir := range dirs {
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	return "", ErrUnavailable
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// unavailable skips t loudly, or fails it when CI=true.
func unavailable(t testing.TB, err error) {
	t.Helper()
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatalf("pgtest: %v. CI=true, and skips are failures in CI: install PostgreSQL (Debian: apt-get install postgresql).", err)
	}
	t.Skipf("\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"+
		"!!! SKIPPING POSTGRESQL TEST: %v\n"+
		"!!! Install PostgreSQL (Debian: apt-get install postgresql) to run it.\n"+
		"!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!", err)
}

// Cluster is a running (or stopped) throwaway PostgreSQL server.
type Cluster struct {
	bin  string
	dir  string // temporary directory: data/, socket, log
	port int
	// uid and gid to run the server as when this process is root; -1
	// otherwise.
	uid, gid int

	mu    sync.Mutex
	cmd   *exec.Cmd
	done  chan struct{} // closed when cmd exits
	admin *sql.DB

	seq atomic.Int64
}

// NewCluster creates and starts a server for one test and stops and deletes
// it when the test ends. It skips (or, with CI=true, fails) the test when
// PostgreSQL is not installed.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	c, err := StartCluster()
	if errors.Is(err, ErrUnavailable) {
		unavailable(t, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return c
}

// Start starts a server for one test and returns the DSN of a fresh
// database on it; see [NewCluster].
func Start(t testing.TB) string {
	t.Helper()
	return NewCluster(t).NewDatabase(t)
}

// StartCluster creates and starts a server; the caller must Close it. It
// returns an error wrapping [ErrUnavailable] when PostgreSQL is not
// installed.
func StartCluster() (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	c := &Cluster{bin: bin, uid: -1, gid: -1}
	c.dir, err = os.MkdirTemp(tempRoot(), "pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if err := c.init(); err != nil {
		os.RemoveAll(c.dir)
		return nil, err
	}
	// A port picked by listening and closing can be taken again before the
	// server binds it; try a few.
	for attempt := 0; ; attempt++ {
		if c.port, err = freePort(); err != nil {
			break
		}
		if err = c.Start(); err == nil || attempt == 2 {
			break
		}
	}
	if err != nil {
		os.RemoveAll(c.dir)
		return nil, err
	}
	return c, nil
}

// tempRoot is where cluster directories go: the usual temporary directory,
// unless this process is root and that directory is not open to the
// unprivileged user the server runs as (say TMPDIR=/root/tmp); then /tmp.
func tempRoot() string {
	dir := os.TempDir()
	if os.Geteuid() != 0 {
		return dir
	}
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
		if d == filepath.Dir(d) {
			return dir
		}
	}
}

// init runs initdb, as the "postgres" user when this process is root
// (initdb refuses to run as root).
func (c *Cluster) init() error {
	if os.Geteuid() == 0 {
		uid, gid, err := unprivileged()
		if err != nil {
			return err
		}
		c.uid, c.gid = uid, gid
		if err := os.Chown(c.dir, uid, gid); err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
	}
	if err := os.Chmod(c.dir, 0o700); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	out, err := c.command(false, "initdb", "-D", c.dataDir(), "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgtest: initdb: %v\n%s", err, out)
	}
	return nil
}

// unprivileged returns the credentials of the "postgres" account (or
// "nobody") for running the server under root.
func unprivileged() (uid, gid int, err error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.Atoi(u.Uid)
		gid, err2 := strconv.Atoi(u.Gid)
		if err1 != nil || err2 != nil {
			continue
		}
		return uid, gid, nil
	}
	return -1, -1, errors.New(`pgtest: running as root and there is no "postgres" or "nobody" user to run PostgreSQL as`)
}

func (c *Cluster) dataDir() string { return filepath.Join(c.dir, "data") }

func (c *Cluster) command(server bool, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	// The server also dies with the test binary, so a crashed test run
	// leaves no postgres behind.
	cmd.SysProcAttr = sysProcAttr(c.uid, c.gid, server)
	return cmd
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start starts the server if it is stopped and waits until it accepts
// connections.
func (c *Cluster) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd != nil {
		return nil
	}
	logPath := filepath.Join(c.dir, "postgres.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer logf.Close()
	cmd := c.command(true, "postgres", "-D", c.dataDir(),
		"-p", strconv.Itoa(c.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+c.dir,
		"-c", "max_connections=200",
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "shared_buffers=32MB",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgtest: starting postgres: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	c.cmd, c.done = cmd, done

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", c.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer db.Close()
	for {
		err := db.PingContext(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-done:
			c.cmd = nil
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("pgtest: postgres exited during start-up:\n%s", tail(log))
		case <-ctx.Done():
			c.stopLocked()
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("pgtest: postgres did not accept connections within 30s: %v\n%s", err, tail(log))
		case <-time.After(25 * time.Millisecond):
		}
	}
}

func tail(b []byte) string {
	s := string(b)
	if len(s) > 4000 {
		s = "…" + s[len(s)-4000:]
	}
	return s
}

// Stop shuts the server down (fast shutdown: sessions are ended) and waits
// for it to exit. The data stays; Start brings it back on the same port.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopLocked()
}

func (c *Cluster) stopLocked() error {
	if c.cmd == nil {
		return nil
	}
	if c.admin != nil {
		c.admin.Close()
		c.admin = nil
	}
	// SIGINT is PostgreSQL's fast shutdown.
	if err := c.cmd.Process.Signal(os.Interrupt); err != nil {
		_ = c.cmd.Process.Kill()
	}
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	c.cmd = nil
	return nil
}

// Close stops the server and deletes its files.
func (c *Cluster) Close() error {
	c.Stop()
	if err := os.RemoveAll(c.dir); err != nil {
		return fmt.Errorf("pgtest: removing %s: %w", c.dir, err)
	}
	return nil
}

// Port returns the TCP port the server listens on at 127.0.0.1.
func (c *Cluster) Port() int { return c.port }

// DSN returns a connection URL for a database on the server.
func (c *Cluster) DSN(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, database)
}

// CreateDatabase creates a new empty database and returns its DSN.
func (c *Cluster) CreateDatabase(ctx context.Context) (string, error) {
	c.mu.Lock()
	if c.cmd == nil {
		c.mu.Unlock()
		return "", errors.New("pgtest: cluster is stopped")
	}
	if c.admin == nil {
		db, err := sql.Open("pgx", c.DSN("postgres"))
		if err != nil {
			c.mu.Unlock()
			return "", fmt.Errorf("pgtest: %w", err)
		}
		c.admin = db
	}
	admin := c.admin
	c.mu.Unlock()
	name := fmt.Sprintf("test_%d", c.seq.Add(1))
	// CREATE DATABASE copies template1; concurrent copies of one template
	// fail, so retry briefly.
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		if _, err = admin.ExecContext(ctx, "CREATE DATABASE "+name); err == nil {
			return c.DSN(name), nil
		}
		if !strings.Contains(err.Error(), "being accessed by other users") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "", fmt.Errorf("pgtest: create database: %w", err)
}

// NewDatabase creates a new empty database for t and returns its DSN.
func (c *Cluster) NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dsn, err := c.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// The package-wide server behind Shared and Main.
var shared struct {
	once sync.Once
	c    *Cluster
	err  error
}

// Shared returns the package's server, starting it on first use. The
// package's TestMain must call [Main] so that it is stopped at the end.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	shared.once.Do(func() { shared.c, shared.err = StartCluster() })
	if errors.Is(shared.err, ErrUnavailable) {
		unavailable(t, shared.err)
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.c
}

// Main runs the package's tests and then stops the server [Shared] may have
// started. Use it as os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if shared.c != nil {
		if err := shared.c.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	return code
}
