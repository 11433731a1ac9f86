package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestSQLiteStore: a key secret file is created beside the database with
// mode 0600 on first start and reused later, so signing keys (and the
// tokens they signed) survive a restart.
func TestSQLiteStore(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "demo.db")
	open := func() *server {
		t.Helper()
		cfg, err := parseConfig([]string{"-store", "sqlite:" + db, "-demo-password", "pw"}, func(string) string { return "" }, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		s, err := newServer(context.Background(), cfg, "http://127.0.0.1:1", testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	s1 := open()
	keyFile := db + ".key-secret"
	if !strings.Contains(s1.store.describe, keyFile) || !strings.Contains(s1.store.describe, "created now") {
		t.Errorf("describe = %q", s1.store.describe)
	}
	fi, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key secret file mode %v, want 0600", fi.Mode().Perm())
	}
	content, _ := os.ReadFile(keyFile)
	if !regexp.MustCompile(`^[0-9a-f]{64}\n$`).Match(content) {
		t.Errorf("key secret file content %q", content)
	}
	tok, err := s1.az.IssueAccessToken(t.Context(), authzTokenRequestFor(nil, s1.mcpURL, scopeTools))
	if err != nil {
		t.Fatal(err)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := open()
	defer s2.Close()
	if strings.Contains(s2.store.describe, "created now") {
		t.Errorf("second start created a new secret: %q", s2.store.describe)
	}
	if again, _ := os.ReadFile(keyFile); !bytes.Equal(again, content) {
		t.Errorf("the key secret file changed")
	}
	if info, err := s2.verifier.Verify(t.Context(), tok); err != nil || info.Subject != "carol" {
		t.Errorf("token from before the restart: %v", err)
	}
}

// With -key-secret, no file is written; the wrong secret cannot read the
// keys of a database.
func TestSQLiteStoreExplicitSecret(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "demo.db")
	secret := bytes.Repeat([]byte{7}, 32)
	open := func(keySecret string) (*server, error) {
		cfg, err := parseConfig([]string{"-store", "sqlite:" + db, "-demo-password", "pw", "-key-secret", keySecret}, func(string) string { return "" }, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		return newServer(context.Background(), cfg, "http://127.0.0.1:1", testLogger(t))
	}
	s, err := open(hex.EncodeToString(secret))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.store.describe, "-key-secret") {
		t.Errorf("describe = %q", s.store.describe)
	}
	s.Close()
	if _, err := os.Stat(db + ".key-secret"); !os.IsNotExist(err) {
		t.Errorf("a key secret file was written: %v", err)
	}
	// The same secret in base64 opens it again; another secret does not.
	s, err = open(base64.StdEncoding.EncodeToString(secret))
	if err != nil {
		t.Fatalf("same secret, base64: %v", err)
	}
	s.Close()
	if s, err := open(hex.EncodeToString(bytes.Repeat([]byte{8}, 32))); err == nil {
		s.Close()
		t.Errorf("a different secret opened the keys")
	}
}

func TestDecodeKeySecret(t *testing.T) {
	raw := bytes.Repeat([]byte{0xab}, 32)
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{hex.EncodeToString(raw), true},
		{strings.ToUpper(hex.EncodeToString(raw)), true},
		{" " + hex.EncodeToString(raw) + "\n", true},
		{base64.StdEncoding.EncodeToString(raw), true},
		{base64.RawURLEncoding.EncodeToString(raw), true},
		{hex.EncodeToString(raw[:31]), false},
		{base64.StdEncoding.EncodeToString(raw[:31]), false},
		{"correct horse battery staple but not encoded", false},
		{"", false},
	} {
		got, err := decodeKeySecret(tc.in)
		if tc.ok != (err == nil) || tc.ok && !bytes.Equal(got, raw) {
			t.Errorf("decodeKeySecret(%q) = %x, %v", tc.in, got, err)
		}
	}
}

func TestSecretFileRefusesBadContent(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.key-secret")
	if err := os.WriteFile(p, []byte("too short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := secretFile(p); err == nil {
		t.Fatal("a bad secret file was accepted")
	}
	if b, _ := os.ReadFile(p); string(b) != "too short\n" {
		t.Fatal("the bad file was overwritten")
	}
}
