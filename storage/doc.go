// Package storage defines the nouns of the authorization server and the
// small interfaces through which it keeps them.
//
// The interfaces name the atomic transitions the security model depends on
// (consume a code once, rotate a refresh token with reuse detection, revoke a
// grant with everything issued from it) instead of offering plain get and
// put, because get-then-put cannot express them safely under concurrency.
//
// Secrets never reach a store in clear text: codes, refresh tokens,
// registration access tokens, initial access tokens and client secrets are
// handed over as a [Hash]. Implementations: [github.com/nqrust/identity/storage/memory]
// (in-process, the default) and [github.com/nqrust/identity/storage/sqlstore]
// (SQLite and PostgreSQL). Every implementation must pass
// [github.com/nqrust/identity/storage/storagetest].
package storage
