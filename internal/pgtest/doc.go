// Package pgtest runs throwaway PostgreSQL servers for tests.
//
// A [Cluster] is a fresh data directory made by initdb in a temporary
// directory, served by a postgres process that is a child of the test
// binary, listening on a free port on 127.0.0.1 only (and a Unix socket in
// the same temporary directory), with trust authentication and durability
// switched off for speed. It is stopped and deleted when the test, or the
// package's tests, end.
//
// The server binaries are looked up on PATH, then in
// /usr/lib/postgresql/<version>/bin (Debian and Ubuntu). When they are
// missing, tests are skipped with a loud message, except when the
// environment has CI=true: there a skip would hide a broken pipeline, so the
// test fails instead.
//
// Typical use, one server per package:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
//	func TestSomething(t *testing.T) {
//		dsn := pgtest.Shared(t).NewDatabase(t)
//		...
//	}
//
// A test that stops and restarts the server takes its own with [NewCluster].
package pgtest
