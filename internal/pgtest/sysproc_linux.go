package pgtest

import "syscall"

func sysProcAttr(uid, gid int, dieWithParent bool) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{}
	if uid >= 0 {
		a.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}
	}
	if dieWithParent {
		// SIGQUIT is PostgreSQL's immediate shutdown.
		a.Pdeathsig = syscall.SIGQUIT
	}
	return a
}
