package admin

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/user"
	"slices"
	"strconv"
)

// Access opens the admin socket to groups besides the daemon's own user.
// The kernel's credentials of the connecting process (SO_PEERCRED, and
// SO_PEERGROUPS for its supplementary groups) decide on every request, so
// a group's rights do not rest on the socket file's mode alone.
type Access struct {
	// Group names a group whose members may use every verb. "" none.
	Group string
	// ReadOnlyGroup names a group whose members may use the read-only
	// verbs only: list, get and headers (show), cat, stats, bounces,
	// quarantined, events, explain, tls (the downgrade memory) and webhooks
	// (status). "" none.
	ReadOnlyGroup string
}

// readOnlyOps are the operations that change nothing.
var readOnlyOps = map[string]bool{
	"list": true, "get": true, "headers": true, "cat": true, "bounces": true,
	"stats": true, "quarantined": true, "suppressions": true, "events": true, "explain": true, "tls": true,
	"webhooks": true,
}

// access is Access resolved to group IDs (-1: none).
type access struct {
	group, readOnly int
}

func (a Access) resolve() (access, error) {
	r := access{group: -1, readOnly: -1}
	for _, g := range []struct {
		key, name string
		gid       *int
	}{{"admin.group", a.Group, &r.group}, {"admin.read_only_group", a.ReadOnlyGroup, &r.readOnly}} {
		if g.name == "" {
			continue
		}
		grp, err := user.LookupGroup(g.name)
		if err != nil {
			return r, fmt.Errorf("%s: %w", g.key, err)
		}
		if *g.gid, err = strconv.Atoi(grp.Gid); err != nil {
			return r, fmt.Errorf("%s: group %s has gid %q", g.key, g.name, grp.Gid)
		}
	}
	return r, nil
}

// socketMode is the mode and group of the socket file: 0600 for the
// daemon's user alone; 0660 with the one configured group; 0666 with two
// (a file has one group), the requests of anyone else then being refused
// by the server.
func (a access) socketMode() (os.FileMode, int) {
	switch {
	case a.group >= 0 && a.readOnly >= 0:
		return 0o666, -1
	case a.group >= 0:
		return 0o660, a.group
	case a.readOnly >= 0:
		return 0o660, a.readOnly
	}
	return 0o600, -1
}

// Peer is the connecting process as the kernel reported it at connect.
type Peer struct {
	PID, UID, GID int
	Groups        []int // supplementary groups
}

func (p *Peer) inGroup(gid int) bool {
	return gid >= 0 && (p.GID == gid || slices.Contains(p.Groups, gid))
}

type peerKey struct{}

// peerListener reads each accepted connection's peer credentials at
// accept. They travel in the connection's RemoteAddr, which every wrapper
// (netutil.LimitListener's among them) passes through, to connContext.
type peerListener struct{ net.Listener }

func (l peerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	p, _ := peerOf(c) // nil when unknown: guard then refuses a restricted API
	ra := c.RemoteAddr()
	if ra == nil {
		ra = &net.UnixAddr{Net: "unix"} // net/http formats it
	}
	return &peerConn{Conn: c, addr: peerAddr{Addr: ra, peer: p}}, nil
}

type peerConn struct {
	net.Conn
	addr peerAddr
}

func (c *peerConn) RemoteAddr() net.Addr { return c.addr }

type peerAddr struct {
	net.Addr
	peer *Peer
}

// connContext records the peer's credentials of a connection in the
// context of its requests.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if pa, ok := c.RemoteAddr().(peerAddr); ok && pa.peer != nil {
		return context.WithValue(ctx, peerKey{}, pa.peer)
	}
	return ctx
}

// PeerFrom returns the credentials of the process that made the request,
// if its connection came over the Unix socket.
func PeerFrom(ctx context.Context) (*Peer, bool) {
	p, ok := ctx.Value(peerKey{}).(*Peer)
	return p, ok
}

// allowed decides whether p may run op: root and the daemon's own user
// may run everything, the admin group too, the read-only group the
// read-only operations.
func (a access) allowed(p *Peer, op string) bool {
	if p.UID == 0 || p.UID == os.Getuid() || p.inGroup(a.group) {
		return true
	}
	return readOnlyOps[op] && p.inGroup(a.readOnly)
}

// guard wraps the API's handler: each request is checked against the
// peer's credentials, and every operation that changes the queue is
// logged with the peer's uid.
func (s *Server) guard(op string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := PeerFrom(r.Context())
		if !ok {
			if s.access.group >= 0 || s.access.readOnly >= 0 {
				s.writeJSON(w, http.StatusForbidden, errorResponse{Error: "permission denied: peer credentials unknown", Code: codeForbidden})
				return
			}
			h(w, r)
			return
		}
		if !s.access.allowed(p, op) {
			s.log.Warn("admin request refused", "op", op, "peer_uid", p.UID, "peer_pid", p.PID)
			s.writeJSON(w, http.StatusForbidden, errorResponse{
				Error: fmt.Sprintf("permission denied: uid %d may not %s", p.UID, op), Code: codeForbidden})
			return
		}
		if !readOnlyOps[op] {
			s.log.Info("admin action", "op", op, "peer_uid", p.UID, "peer_pid", p.PID)
		}
		h(w, r)
	}
}
