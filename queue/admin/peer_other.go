//go:build !linux

package admin

import (
	"errors"
	"net"
)

// peerOf is not implemented outside Linux: without peer credentials the
// socket is the daemon user's alone: with Access set, the server refuses
// every request (it cannot tell who asks).
func peerOf(net.Conn) (*Peer, error) {
	return nil, errors.New("peer credentials are only read on Linux")
}
