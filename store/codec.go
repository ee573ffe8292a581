package store

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Record encoding.
//
// A record is a version byte followed by a compact binary body of unsigned
// varints (lengths, counts, small integers), zig-zag varints (times as unix
// nanoseconds) and length-prefixed strings. It is hand-rolled rather than
// JSON because the queue decodes a record on every attempt and List decodes
// the whole queue: the binary form is about a third of the JSON size and
// decodes several times faster (see doc.go). The ID is not encoded: it is the
// record's key.
//
// Version 1 layout:
//
//	0x01
//	From, Client, User, DSNID   strings
//	Size                        uvarint
//	Received                    time
//	flags                       byte: bit0 DSNPending, bit1 AtLeastOne set, bit2 AtLeastOne value, bit3 SMTPUTF8, bit4 Signed follows, bit5 DelayWarned
//	n                           uvarint, then n recipients:
//	  Addr, LastReply           strings
//	  State                     byte
//	  Attempts                  uvarint
//	  NextAttempt               time
//	  h                         uvarint, then h attempts:
//	    Time                    time
//	    Host, TLS, Enhanced, Reply strings
//	    Code                    uvarint
//	    Result                  byte
//	when flags bit4 is set:
//	s                           uvarint, then s Signed strings
//
//	when flags bit6 is set, tagged fields to the end of the record:
//	  tag                       uvarint, then its value:
//	    1 BodyType              byte
//	    2 EnvID                 string
//	    3 Ret                   byte
//	    4 recipients' DSN       uvarint n (= number of recipients), then per recipient:
//	                              Notify byte, ORcpt string
//	    5 DeliverAfter          time
//	    6 ExpireAt              time
//	    7 Tags                  uvarint n, then n strings
//	    8 Metadata              uvarint n, then n key and value strings, keys sorted
//	   15 TLSReq                byte
//	   16 attempts' TLSInfo     uvarint n (= number of recipients), then per recipient
//	                              uvarint h (= its History length), then per attempt:
//	                              VerifiedBy, Policy, Failure strings
//
// A tagged field is written only when it differs from its zero value, so a
// record that uses none of them is byte for byte what an older build wrote.
// An unknown tag is an error (ErrCorrupt), as an unknown flag is: a record
// written by a newer build is refused rather than silently rewritten
// without the fields it does not know.
// Bits 4 to 6 (and their trailing sections) were added without a version bump: records
// written before it decode unchanged (Message.Prefix is not in the record;
// see body.go).
// A time is a zig-zag varint of UnixNano, with the zero time.Time encoded as 0.
const recordV1 = 1

// EncodeMessage returns the stored form of m (without m.ID, which is the
// record's key).
func EncodeMessage(m *Message) []byte {
	b := make([]byte, 0, 64+32*len(m.Recipients))
	b = append(b, recordV1)
	b = appendString(b, m.From)
	b = appendString(b, m.Client)
	b = appendString(b, m.User)
	b = appendString(b, m.DSNID)
	b = binary.AppendUvarint(b, uint64(max(m.Size, 0)))
	b = appendTime(b, m.Received)
	var flags byte
	if m.DSNPending {
		flags |= 1
	}
	if m.AtLeastOne != nil {
		flags |= 2
		if *m.AtLeastOne {
			flags |= 4
		}
	}
	if m.SMTPUTF8 {
		flags |= 8
	}
	if len(m.Signed) > 0 {
		flags |= 16
	}
	if m.DelayWarned {
		flags |= 32
	}
	ext := appendTagged(nil, m)
	if len(ext) > 0 {
		flags |= 64
	}
	b = append(b, flags)
	b = binary.AppendUvarint(b, uint64(len(m.Recipients)))
	for i := range m.Recipients {
		r := &m.Recipients[i]
		b = appendString(b, r.Addr)
		b = appendString(b, r.LastReply)
		b = append(b, byte(r.State))
		b = binary.AppendUvarint(b, uint64(max(r.Attempts, 0)))
		b = appendTime(b, r.NextAttempt)
		b = binary.AppendUvarint(b, uint64(len(r.History)))
		for j := range r.History {
			a := &r.History[j]
			b = appendTime(b, a.Time)
			b = appendString(b, a.Host)
			b = appendString(b, a.TLS)
			b = appendString(b, a.Enhanced)
			b = appendString(b, a.Reply)
			b = binary.AppendUvarint(b, uint64(max(a.Code, 0)))
			b = append(b, byte(a.Result))
		}
	}
	if len(m.Signed) > 0 {
		b = binary.AppendUvarint(b, uint64(len(m.Signed)))
		for _, s := range m.Signed {
			b = appendString(b, s)
		}
	}
	return append(b, ext...)
}

// Tags of the tagged fields (flags bit6).
const (
	tagBodyType = 1
	tagEnvID    = 2
	tagRet      = 3
	tagRcptDSN  = 4
	tagDeliver  = 5
	tagExpire   = 6
	tagTags     = 7
	tagMetadata = 8
	tagTLSReq   = 15
	tagTLSInfo  = 16
)

// appendTagged appends m's tagged fields that are set, and nothing when
// none is.
func appendTagged(b []byte, m *Message) []byte {
	if m.BodyType != BodyUnknown {
		b = binary.AppendUvarint(b, tagBodyType)
		b = append(b, byte(m.BodyType))
	}
	if m.EnvID != "" {
		b = binary.AppendUvarint(b, tagEnvID)
		b = appendString(b, m.EnvID)
	}
	if m.Ret != RetUnset {
		b = binary.AppendUvarint(b, tagRet)
		b = append(b, byte(m.Ret))
	}
	for i := range m.Recipients {
		if m.Recipients[i].Notify == 0 && m.Recipients[i].ORcpt == "" {
			continue
		}
		b = binary.AppendUvarint(b, tagRcptDSN)
		b = binary.AppendUvarint(b, uint64(len(m.Recipients)))
		for j := range m.Recipients {
			b = append(b, byte(m.Recipients[j].Notify))
			b = appendString(b, m.Recipients[j].ORcpt)
		}
		break
	}
	if !m.DeliverAfter.IsZero() {
		b = binary.AppendUvarint(b, tagDeliver)
		b = appendTime(b, m.DeliverAfter)
	}
	if !m.ExpireAt.IsZero() {
		b = binary.AppendUvarint(b, tagExpire)
		b = appendTime(b, m.ExpireAt)
	}
	if len(m.Tags) > 0 {
		b = binary.AppendUvarint(b, tagTags)
		b = binary.AppendUvarint(b, uint64(len(m.Tags)))
		for _, t := range m.Tags {
			b = appendString(b, t)
		}
	}
	if len(m.Metadata) > 0 {
		b = binary.AppendUvarint(b, tagMetadata)
		b = binary.AppendUvarint(b, uint64(len(m.Metadata)))
		// Sorted keys: the same message always encodes to the same bytes.
		for _, k := range slices.Sorted(maps.Keys(m.Metadata)) {
			b = appendString(b, k)
			b = appendString(b, m.Metadata[k])
		}
	}
	if m.TLSReq != TLSReqNone {
		b = binary.AppendUvarint(b, tagTLSReq)
		b = append(b, byte(m.TLSReq))
	}
	return appendTLSInfo(b, m)
}

// appendTLSInfo appends tag 16 when any attempt of any recipient has a
// TLSInfo.
func appendTLSInfo(b []byte, m *Message) []byte {
	has := false
	for i := range m.Recipients {
		for _, a := range m.Recipients[i].History {
			has = has || a.TLSInfo != (AttemptTLS{})
		}
	}
	if !has {
		return b
	}
	b = binary.AppendUvarint(b, tagTLSInfo)
	b = binary.AppendUvarint(b, uint64(len(m.Recipients)))
	for i := range m.Recipients {
		h := m.Recipients[i].History
		b = binary.AppendUvarint(b, uint64(len(h)))
		for _, a := range h {
			b = appendString(b, a.TLSInfo.VerifiedBy)
			b = appendString(b, a.TLSInfo.Policy)
			b = appendString(b, a.TLSInfo.Failure)
		}
	}
	return b
}

// tlsInfo reads tag 16; the counts must match the record's recipients and
// their histories.
func (d *decoder) tlsInfo(m *Message) {
	if n := d.uvarint(); d.err == nil && n != uint64(len(m.Recipients)) {
		d.fail("recipient TLS count mismatch")
		return
	}
	for i := range m.Recipients {
		h := m.Recipients[i].History
		if n := d.uvarint(); d.err == nil && n != uint64(len(h)) {
			d.fail("attempt TLS count mismatch")
			return
		}
		for j := range h {
			h[j].TLSInfo = AttemptTLS{VerifiedBy: d.string(), Policy: d.string(), Failure: d.string()}
		}
	}
}

// decodeTagged reads the tagged fields to the end of the record.
func (d *decoder) tagged(m *Message) {
	seen := 0
	for d.err == nil && len(d.b) > 0 {
		tag := d.uvarint()
		if tag >= 64 || seen&(1<<tag) != 0 {
			d.fail("unknown or repeated tag")
			return
		}
		seen |= 1 << tag
		switch tag {
		case tagBodyType:
			m.BodyType = BodyType(d.byte())
			if m.BodyType > Body8BitMIME {
				d.fail("unknown body type")
			}
		case tagEnvID:
			m.EnvID = d.string()
		case tagRet:
			m.Ret = DSNRet(d.byte())
			if m.Ret > RetHdrs {
				d.fail("unknown RET")
			}
		case tagRcptDSN:
			if n := d.uvarint(); d.err == nil && n != uint64(len(m.Recipients)) {
				d.fail("recipient DSN count mismatch")
				return
			}
			for i := range m.Recipients {
				m.Recipients[i].Notify = DSNNotify(d.byte())
				m.Recipients[i].ORcpt = d.string()
			}
		case tagDeliver:
			m.DeliverAfter = d.time()
		case tagExpire:
			m.ExpireAt = d.time()
		case tagTags:
			d.tags(m)
		case tagMetadata:
			d.metadata(m)
		case tagTLSReq:
			m.TLSReq = TLSReq(d.byte())
			if m.TLSReq == TLSReqNone || m.TLSReq > TLSReqOptional {
				d.fail("unknown TLS requirement")
			}
		case tagTLSInfo:
			d.tlsInfo(m)
		default:
			d.fail("unknown tag")
		}
	}
	if d.err == nil && seen == 0 {
		d.fail("empty tagged section")
	}
}

// tags reads the Tags field; a tag is at least its length byte.
func (d *decoder) tags(m *Message) {
	n := d.count(1)
	if d.err == nil && n == 0 {
		d.fail("empty tag list")
		return
	}
	m.Tags = make([]string, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		m.Tags = append(m.Tags, d.string())
	}
}

// metadata reads the Metadata field; a pair is at least its two length
// bytes.
func (d *decoder) metadata(m *Message) {
	n := d.count(2)
	if d.err == nil && n == 0 {
		d.fail("empty metadata")
		return
	}
	m.Metadata = make(map[string]string, n)
	for i := 0; i < n && d.err == nil; i++ {
		k := d.string()
		if _, dup := m.Metadata[k]; dup {
			d.fail("repeated metadata key")
			return
		}
		m.Metadata[k] = d.string()
	}
}

// DecodeMessage parses a record produced by EncodeMessage. The returned
// message has no ID (the caller knows the key). Any malformed input yields
// an error wrapping ErrCorrupt; it never panics.
func DecodeMessage(b []byte) (*Message, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty record", ErrCorrupt)
	}
	if b[0] != recordV1 {
		return nil, fmt.Errorf("%w: unknown record version %d", ErrCorrupt, b[0])
	}
	d := decoder{b: b[1:]}
	m := &Message{}
	m.From = d.string()
	m.Client = d.string()
	m.User = d.string()
	m.DSNID = d.string()
	m.Size = d.int64()
	m.Received = d.time()
	flags := d.byte()
	m.DSNPending = flags&1 != 0
	if flags&2 != 0 {
		v := flags&4 != 0
		m.AtLeastOne = &v
	}
	m.SMTPUTF8 = flags&8 != 0
	m.DelayWarned = flags&32 != 0
	if flags&^127 != 0 {
		d.fail("unknown flags")
	}
	// Every recipient takes at least 6 bytes and every attempt 7, which
	// bounds the counts by the input length before anything is allocated.
	n := d.count(6)
	if n > 0 {
		m.Recipients = make([]Recipient, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		r := &m.Recipients[i]
		r.Addr = d.string()
		r.LastReply = d.string()
		r.State = d.state()
		r.Attempts = int(d.int64())
		r.NextAttempt = d.time()
		h := d.count(7)
		if h > 0 {
			r.History = make([]Attempt, h)
		}
		for j := 0; j < h && d.err == nil; j++ {
			a := &r.History[j]
			a.Time = d.time()
			a.Host = d.string()
			a.TLS = d.string()
			a.Enhanced = d.string()
			a.Reply = d.string()
			a.Code = int(d.int64())
			a.Result = d.state()
		}
	}
	if flags&16 != 0 {
		// Every string takes at least its length byte.
		s := d.count(1)
		if s == 0 {
			d.fail("empty signature list")
		}
		if s > 0 {
			m.Signed = make([]string, s)
		}
		for i := 0; i < s && d.err == nil; i++ {
			m.Signed[i] = d.string()
		}
	}
	if flags&64 != 0 {
		d.tagged(m)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return nil, d.err
	}
	return m, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendVarint(b, 0)
	}
	return binary.AppendVarint(b, t.UnixNano())
}

// decoder reads a record; the first problem sticks in err and every later
// read returns a zero value, so DecodeMessage checks once at the end.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrCorrupt, what)
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("truncated")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int64() int64 {
	v := d.uvarint()
	if v > 1<<62 {
		d.fail("integer out of range")
		return 0
	}
	return int64(v)
}

func (d *decoder) count(minSize int) int {
	v := d.uvarint()
	if v > uint64(len(d.b)/minSize) {
		d.fail("count exceeds record")
		return 0
	}
	return int(v)
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) state() State {
	s := State(d.byte())
	if d.err == nil && s != 0 && (s < StateQueued || s > StateHeld) {
		d.fail("unknown state")
	}
	return s
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.fail("truncated")
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) time() time.Time {
	if d.err != nil {
		return time.Time{}
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("truncated")
		return time.Time{}
	}
	d.b = d.b[n:]
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, v)
}
