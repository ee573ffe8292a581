package httpapi

import (
	"strconv"
	"strings"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// Bounds of the per-message options. Tags and metadata stay small because
// every record decode (each attempt, each list) carries them.
const (
	maxTags          = 20
	maxTagLen        = 64
	maxMetadata      = 20
	maxMetadataKey   = 64
	maxMetadataValue = 512
)

// msgOptions are the checked per-message options of a request.
type msgOptions struct {
	deliverAfter time.Time // zero: at once
	expireAt     time.Time // zero: the lifetime only
	tags         []string
	metadata     map[string]string
	priority     store.Priority
}

// options checks the request's delivery options at now. A deliver_after
// not after now means at once, one more than maxHold ahead is refused
// (Options.MaxHold); an expire_at must be after now and after
// deliver_after, or nothing could ever be attempted.
func (req *sendRequest) options(now time.Time, maxHold time.Duration) (*msgOptions, error) {
	o := &msgOptions{}
	var err error
	if o.deliverAfter, err = parseTime("deliver_after", req.DeliverAfter); err != nil {
		return nil, err
	}
	switch {
	case !o.deliverAfter.After(now):
		o.deliverAfter = time.Time{}
	case maxHold < 0:
		return nil, fieldErr("deliver_after", "scheduled send is not available on this server")
	case o.deliverAfter.After(now.Add(maxHold)):
		return nil, fieldErr("deliver_after", "more than %v ahead", maxHold)
	}
	if o.expireAt, err = parseTime("expire_at", req.ExpireAt); err != nil {
		return nil, err
	}
	if !o.expireAt.IsZero() && (!o.expireAt.After(now) || !o.expireAt.After(o.deliverAfter)) {
		return nil, fieldErr("expire_at", "must be later than now and than deliver_after")
	}
	if len(req.Tags) > maxTags {
		return nil, fieldErr("tags", "at most %d tags", maxTags)
	}
	for i, t := range req.Tags {
		if err := checkLabel(t, maxTagLen); err != "" {
			return nil, fieldErr("tags", "tag %d %s", i, err)
		}
	}
	if len(req.Metadata) > maxMetadata {
		return nil, fieldErr("metadata", "at most %d keys", maxMetadata)
	}
	for k, v := range req.Metadata {
		if err := checkLabel(k, maxMetadataKey); err != "" {
			return nil, fieldErr("metadata."+k, "key %s", err)
		}
		if len(v) > maxMetadataValue || strings.ContainsRune(v, 0) {
			return nil, fieldErr("metadata."+k, "value over %d bytes or with a NUL", maxMetadataValue)
		}
	}
	p, ok := store.ParsePriority(req.Priority)
	if !ok {
		return nil, fieldErr("priority", "%q is not high, normal or bulk", req.Priority)
	}
	o.priority = p
	if len(req.Tags) > 0 {
		o.tags = req.Tags
	}
	if len(req.Metadata) > 0 {
		o.metadata = req.Metadata
	}
	return o, nil
}

// parseTime parses an RFC 3339 time; "" is the zero time.
func parseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fieldErr(field, "%q is not an RFC 3339 time (2006-01-02T15:04:05Z)", s)
	}
	return t, nil
}

// checkLabel holds a tag or metadata key to 1 to max printable ASCII
// characters, so it shows unquoted in logs and the CLI.
func checkLabel(s string, max int) string {
	if s == "" || len(s) > max {
		return "must be 1 to " + strconv.Itoa(max) + " characters"
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return "must be printable ASCII without spaces"
		}
	}
	return ""
}
