package store

import "fmt"

// Priority is a message's delivery lane. The scheduler serves the lanes
// so that high mail goes before normal and normal before bulk when
// delivery capacity is short, each lower lane keeping a share so it is
// never starved (queue/lanes.go has the shares).
//
// The values are the submitter's three classes rather than MT-PRIORITY's
// -9..9 (RFC 6710 §3): an application asks for "this first" or "this may
// wait", and three lanes serve that with three index seeks. MT-PRIORITY
// maps onto them as >0 high, 0 normal, <0 bulk.
type Priority uint8

// Priorities. The zero value is normal: every record written before lanes
// existed is normal, as is every message that asks for nothing.
const (
	PriorityNormal Priority = iota
	PriorityHigh
	PriorityBulk
)

// Lanes are the priorities in the order the scheduler prefers them.
var Lanes = [...]Priority{PriorityHigh, PriorityNormal, PriorityBulk}

// String returns the name used in the HTTP API, the CLI and JSON.
func (p Priority) String() string {
	switch p {
	case PriorityNormal:
		return "normal"
	case PriorityHigh:
		return "high"
	case PriorityBulk:
		return "bulk"
	}
	return fmt.Sprintf("priority(%d)", uint8(p))
}

// ParsePriority is the inverse of String; "" is normal.
func ParsePriority(s string) (Priority, bool) {
	switch s {
	case "", "normal":
		return PriorityNormal, true
	case "high":
		return PriorityHigh, true
	case "bulk":
		return PriorityBulk, true
	}
	return 0, false
}

// dueBucket is the due index of lane p. The normal lane keeps the name
// the single index had before lanes, so a spool written then needs no
// migration: its entries are the normal lane's, byte for byte.
func dueBucket(p Priority) string {
	switch p {
	case PriorityHigh:
		return bucketDueHigh
	case PriorityBulk:
		return bucketDueBulk
	}
	return bucketDue
}

// dueBuckets are the due indexes of every lane.
var dueBuckets = [...]string{bucketDueHigh, bucketDue, bucketDueBulk}
