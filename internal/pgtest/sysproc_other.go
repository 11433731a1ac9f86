//go:build !linux

package pgtest

import "syscall"

// Outside Linux the server runs as the current user; initdb refuses root.
func sysProcAttr(uid, gid int, dieWithParent bool) *syscall.SysProcAttr { return nil }
