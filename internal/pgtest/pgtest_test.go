package pgtest

import (
	"context"
	"database/sql"
	"os"
	"testing"
	"time"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func ping(t *testing.T, dsn string) error {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

func TestSharedDatabasesAreDistinct(t *testing.T) {
	c := Shared(t)
	a, b := c.NewDatabase(t), c.NewDatabase(t)
	if a == b {
		t.Fatalf("two databases share DSN %s", a)
	}
	db, err := sql.Open("pgx", a)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var name, addr string
	if err := db.QueryRow("SELECT current_database(), host(inet_server_addr())").Scan(&name, &addr); err != nil {
		t.Fatal(err)
	}
	if name == "postgres" || addr != "127.0.0.1" {
		t.Fatalf("connected to database %q at %s; want a fresh test database on 127.0.0.1", name, addr)
	}
}

func TestStopStart(t *testing.T) {
	c := NewCluster(t)
	dsn := c.NewDatabase(t)
	if err := ping(t, dsn); err != nil {
		t.Fatalf("fresh cluster: %v", err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := ping(t, dsn); err == nil {
		t.Fatal("stopped cluster still accepts connections")
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if err := ping(t, dsn); err != nil {
		t.Fatalf("restarted cluster: %v", err)
	}
}
