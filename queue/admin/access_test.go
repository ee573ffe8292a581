package admin

import "testing"

func TestAccessAllowed(t *testing.T) {
	a := access{group: 500, readOnly: 600}
	none := access{group: -1, readOnly: -1}
	tests := []struct {
		name string
		a    access
		p    Peer
		op   string
		want bool
	}{
		{"root", a, Peer{UID: 0, GID: 0}, "delete", true},
		{"admin group, primary", a, Peer{UID: 1000, GID: 500}, "bulk", true},
		{"admin group, supplementary", a, Peer{UID: 1000, GID: 1000, Groups: []int{7, 500}}, "delete", true},
		{"read-only group lists", a, Peer{UID: 1001, GID: 1001, Groups: []int{600}}, "list", true},
		{"read-only group reads headers", a, Peer{UID: 1001, GID: 600}, "headers", true},
		{"read-only group may not delete", a, Peer{UID: 1001, GID: 1001, Groups: []int{600}}, "delete", false},
		{"read-only group may not bulk", a, Peer{UID: 1001, GID: 600}, "bulk", false},
		{"read-only group may not flush", a, Peer{UID: 1001, GID: 600}, "flush", false},
		{"stranger", a, Peer{UID: 1002, GID: 1002, Groups: []int{9}}, "list", false},
		{"no groups configured", none, Peer{UID: 1002, GID: 1002}, "list", false},
		{"gid -1 is no group", none, Peer{UID: 1002, GID: -1}, "list", false},
	}
	for _, tt := range tests {
		if got := tt.a.allowed(&tt.p, tt.op); got != tt.want {
			t.Errorf("%s: allowed(%+v, %s) = %v, want %v", tt.name, tt.p, tt.op, got, tt.want)
		}
	}
}

func TestAccessSocketMode(t *testing.T) {
	tests := []struct {
		a        access
		wantMode uint32
		wantGID  int
	}{
		{access{-1, -1}, 0o600, -1},
		{access{500, -1}, 0o660, 500},
		{access{-1, 600}, 0o660, 600},
		{access{500, 600}, 0o666, -1},
	}
	for _, tt := range tests {
		mode, gid := tt.a.socketMode()
		if uint32(mode) != tt.wantMode || gid != tt.wantGID {
			t.Errorf("%+v: mode %o group %d, want %o %d", tt.a, mode, gid, tt.wantMode, tt.wantGID)
		}
	}
}

func TestAccessUnknownGroup(t *testing.T) {
	if _, err := (Access{Group: "no-such-group-outbox"}).resolve(); err == nil {
		t.Error("an unknown group was accepted")
	}
}
