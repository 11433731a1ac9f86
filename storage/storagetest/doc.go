// Package storagetest is the conformance suite every [storage.Store]
// implementation must pass: the in-memory store, the SQL stores, and any
// store a user writes for their own database.
//
// Call [Run] from a test with a constructor for a fresh, empty store:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T, clock func() time.Time) storage.Store {
//			return mystore.Open(t, clock) // empty; closed by t.Cleanup
//		})
//	}
//
// Each clause of the contract in package storage is one subtest, so a
// failure names the clause that broke. Subtests do not run in parallel and
// each gets its own store and [Clock]; the store must judge expiry on reads
// by the clock it is given.
//
// Beyond the doc comments in package storage, the suite holds
// implementations to these rules, which callers rely on:
//
//   - Time: instants are kept to the microsecond or finer, and a zero
//     time.Time reads back as zero. The suite's clock produces only
//     microsecond-aligned instants, and times are compared with
//     time.Time.Equal after truncation to [Precision], so the location a
//     time comes back in does not matter.
//   - Expiry: a record whose ExpiresAt is E is live while now < E and
//     expired from E on. A zero ExpiresAt of a client, signing key,
//     initial access token or consent never expires. Reads use the store's
//     clock; RotateRefreshToken and PurgeExpired use the now they are
//     given. An expired record keeps its key until it is purged.
//   - Lists: a nil slice and an empty one are the same; order is kept.
//     Raw JSON (client JWKS) is compared as JSON, not byte for byte.
//   - Strings: keys and IDs may be any valid UTF-8 up to 255 bytes
//     (quotes, percent signs, slashes, non-ASCII), with no NUL byte; two
//     keys that differ in any byte are different, including the pair in
//     (subject, client ID).
//   - Secrets: a stored client never carries Metadata.ClientSecret or
//     Metadata.RegistrationAccessToken, even if it was handed them.
//   - Copies: changing a value after handing it to the store, or changing
//     a value the store returned, never changes what the store holds.
//   - Refresh rotation: on success RotateRefreshToken returns the old
//     token as now stored (RotatedAt = now) and sets next.FamilyID to the
//     old token's family. A second rotation inside the grace window keeps
//     the first RotatedAt, so the window cannot extend itself. A next whose
//     hash is taken gives ErrConflict and leaves the old token as it was.
//   - Revocation: RevokeGrant and RevokeRefreshFamily set RevokedAt to the
//     given time on every token they reach (as GetRefreshToken reports it);
//     consumed codes of a revoked grant keep answering ErrAlreadyUsed.
//   - Purging: PurgeExpired never deletes a live record, nor a consumed
//     code or rotated token before it expires (replays must still be
//     recognised); a call that returns fewer than limit has left nothing
//     expired behind.
//   - Concurrency: every single-use transition is raced by 64 goroutines,
//     ten times over, and must have exactly one winner (or exactly N for an
//     initial access token with N uses); a limited CreateClient is raced by
//     200. Run the suite with -race: a store that forgot a lock often wins
//     such races by luck, but not against the race detector.
//
// Where the storage docs leave a choice, the suite accepts either answer:
// a record returned next to ErrExpired or not (when returned it must be
// right), ErrNotFound or ErrAlreadyUsed for a consumed authorization
// request, nil or ErrNotFound for revoking an unknown grant or family.
package storagetest
