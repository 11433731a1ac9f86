// Package integration holds cross-package tests of the durable store: the
// authorization server (package authz) on SQLite and PostgreSQL through
// package sqlstore, driven over HTTP with golang.org/x/oauth2.
//
// The tests cover what a single-package test cannot: two authz.Server
// nodes sharing one PostgreSQL database (a flow that hops between nodes,
// codes and refresh tokens raced across nodes, one signing key and one
// JWKS for both, key rotation), a database outage under load (503
// server_error, no panic, no leaked goroutines, recovery without a
// restart), and BenchmarkCodeExchange on each backend.
//
// Tests that need PostgreSQL use package internal/pgtest: they are skipped
// loudly when the server binaries are missing, and fail instead when the
// environment has CI=true.
//
// The package has no exported API.
package integration
