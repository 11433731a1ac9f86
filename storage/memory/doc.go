// Package memory is an in-process [storage.Store]: the default store, and
// the right one for tests and single-node servers that may lose their state
// on restart.
//
// Every method is safe for concurrent use, and every atomic transition the
// storage interfaces describe (consume a code once, rotate a refresh token
// once, revoke a grant with everything issued from it, spend an initial
// access token, reserve a jti) is one critical section. The store keeps its
// own copies of what it is handed and returns fresh copies, so callers can
// neither change stored state through a pointer nor see each other's
// changes.
//
// Records are found through maps and secondary indexes, never by scanning,
// so the cost of an operation does not grow with the number of records.
// Nor does the garbage collector's: records are kept without Go pointers,
// encoded into arena chunks of 1 MiB next to fixed-size slots, so a store
// of a million records adds a few thousand objects to the heap rather than
// millions, and an operation at a million records costs about what it
// costs at a thousand. Memory that deletes and purges free is reused for
// later records but is not given back to the operating system.
// Expired records answer [storage.ErrExpired] on read and stay until
// [Store.PurgeExpired] deletes them; consumed codes and rotated refresh
// tokens are kept until they expire so that a replay is still recognised.
// Nothing runs in the background unless [Store.StartSweeper] is called.
package memory
