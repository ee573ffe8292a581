package admin

import (
	"errors"
	"fmt"
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// peerOf reads the credentials of the process at the other end of a Unix
// connection: SO_PEERCRED (socket(7)) for its pid, uid and gid, and
// SO_PEERGROUPS (Linux 4.13) for its supplementary groups, both as the
// kernel recorded them at connect.
func peerOf(c net.Conn) (*Peer, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil, errors.New("not a Unix connection")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil, err
	}
	var (
		p    Peer
		oerr error
	)
	err = raw.Control(func(fd uintptr) {
		cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		if err != nil {
			oerr = fmt.Errorf("SO_PEERCRED: %w", err)
			return
		}
		p = Peer{PID: int(cred.Pid), UID: int(cred.Uid), GID: int(cred.Gid)}
		p.Groups, oerr = peerGroups(int(fd))
	})
	if err == nil {
		err = oerr
	}
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// peerGroups reads SO_PEERGROUPS, an array of gid_t; x/sys has no typed
// getter for it (GetsockoptString stops at the first zero byte).
func peerGroups(fd int) ([]int, error) {
	buf := make([]uint32, 64)
	for {
		n := uint32(len(buf) * 4)
		_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_PEERGROUPS,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)), 0)
		switch {
		case e == unix.ERANGE && int(n) > len(buf)*4:
			buf = make([]uint32, (n+3)/4)
			continue
		case e != 0:
			return nil, fmt.Errorf("SO_PEERGROUPS: %w", e)
		}
		gs := make([]int, n/4)
		for i := range gs {
			gs[i] = int(buf[i])
		}
		return gs, nil
	}
}
