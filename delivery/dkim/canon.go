package dkim

import (
	"bytes"
	"hash"
	"strings"
)

// The relaxed canonicalizations of RFC 6376 §3.4.2 (header) and §3.4.4
// (body), computed as the message streams in, without a goroutine or a
// copy of the body: the header is kept (it is needed whole, to pick the
// signed fields bottom-up), the body goes through bodyCanon into one hash
// shared by every key of the message.
//
// A bare LF is taken as CRLF (the delivery's DATA writer sends it as CRLF,
// RFC 5321 §2.3.8), and a bare CR is kept as a line-break octet: what
// go-msgauth's verifier and signer do (TestCanonMatchesGoMsgauth).

// lineFixer turns a bare LF into CRLF, across writes.
type lineFixer struct{ cr bool }

// bodyCanon is the relaxed body canonicalization (RFC 6376 §3.4.4) into h:
// whitespace runs become one SP, whitespace at the end of a line goes,
// and the empty lines at the end go too (the line breaks seen are held
// back until a non-break octet shows they are not the end); a non-empty
// body ends with exactly one CRLF (close).
type bodyCanon struct {
	h       hash.Hash
	fix     lineFixer
	breaks  []byte // line-break octets held back
	wsp     bool   // whitespace held back
	written bool   // a non-break octet was hashed
	// out gathers the canonical octets for the hash, n of them so far:
	// one hash write per 1 KiB rather than one per octet or per run.
	out [1024]byte
	n   int
}

// put adds one canonical octet.
func (c *bodyCanon) put(ch byte) {
	if c.n == len(c.out) {
		c.h.Write(c.out[:c.n])
		c.n = 0
	}
	c.out[c.n] = ch
	c.n++
}

// putRun adds octets that need no canonicalization.
func (c *bodyCanon) putRun(run []byte) {
	if c.n+len(run) > len(c.out) {
		c.h.Write(c.out[:c.n])
		c.n = 0
		if len(run) >= len(c.out) {
			c.h.Write(run)
			return
		}
	}
	c.n += copy(c.out[c.n:], run)
}

func (c *bodyCanon) write(p []byte) {
	for i := 0; i < len(p); i++ {
		switch ch := p[i]; ch {
		case ' ', '\t':
			c.fix.cr = false
			c.wsp = true
		case '\n':
			if !c.fix.cr {
				c.breaks = append(c.breaks, '\r')
			}
			c.fix.cr = false
			c.wsp = false
			c.breaks = append(c.breaks, ch)
		case '\r':
			c.fix.cr = true
			c.wsp = false
			c.breaks = append(c.breaks, ch)
		default:
			c.fix.cr = false
			for _, b := range c.breaks {
				c.put(b)
			}
			c.breaks = c.breaks[:0]
			if c.wsp {
				c.put(' ')
				c.wsp = false
			}
			// The run of ordinary octets that starts here goes as it is.
			j := i + 1
			for j < len(p) && p[j] != ' ' && p[j] != '\t' && p[j] != '\r' && p[j] != '\n' {
				j++
			}
			c.putRun(p[i:j])
			c.written = true
			i = j - 1
		}
	}
}

// close ends the body: one CRLF after a non-empty body (§3.4.4 a, c).
func (c *bodyCanon) close() {
	if c.written {
		c.put('\r')
		c.put('\n')
	}
	c.h.Write(c.out[:c.n])
	c.n = 0
}

// headerAcc keeps the header as it streams, a bare LF made CRLF, up to
// and including the empty line that ends it.
type headerAcc struct {
	buf  []byte
	fix  lineFixer
	done bool
}

// write takes from p what belongs to the header and returns the rest (the
// start of the body).
func (a *headerAcc) write(p []byte) []byte {
	for i, ch := range p {
		if ch == '\n' && !a.fix.cr {
			a.buf = append(a.buf, '\r')
		}
		a.fix.cr = ch == '\r'
		a.buf = append(a.buf, ch)
		if ch == '\n' && (len(a.buf) == 2 || bytes.HasSuffix(a.buf, []byte("\r\n\r\n"))) {
			a.done = true
			return p[i+1:]
		}
	}
	return nil
}

// fields splits the header into its fields, each with its folded lines and
// final CRLF.
func (a *headerAcc) fields() []string {
	var fs []string
	for line := range strings.SplitSeq(strings.TrimSuffix(string(a.buf), "\r\n"), "\r\n") {
		switch {
		case line == "":
		case len(fs) > 0 && (line[0] == ' ' || line[0] == '\t'):
			fs[len(fs)-1] += line + "\r\n"
		default:
			fs = append(fs, line+"\r\n")
		}
	}
	return fs
}

// relaxedHeader is a header field in the relaxed header canonicalization
// (RFC 6376 §3.4.2): name in lower case, unfolded, whitespace runs made
// one SP, none around the colon nor at the end, then CRLF.
func relaxedHeader(field string) string {
	k, v, ok := strings.Cut(field, ":")
	k = strings.ToLower(strings.TrimSpace(k))
	if !ok {
		return k + ":\r\n"
	}
	var b strings.Builder
	b.Grow(len(field) + 2)
	b.WriteString(k)
	b.WriteByte(':')
	sp := false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case ' ', '\t', '\r', '\n':
			sp = b.Len() > len(k)+1
		default:
			if sp {
				b.WriteByte(' ')
				sp = false
			}
			b.WriteByte(c)
		}
	}
	b.WriteString("\r\n")
	return b.String()
}

// pick returns the fields named in keys, each name's instances taken from
// the bottom up (RFC 6376 §5.4.2); a name with no instance left adds
// nothing.
func pick(fields, keys []string) []string {
	used := make(map[string]int, len(keys))
	var out []string
	for _, k := range keys {
		lk := strings.ToLower(k)
		skip := used[lk]
		for i := len(fields) - 1; i >= 0; i-- {
			name, _, _ := strings.Cut(fields[i], ":")
			if !strings.EqualFold(strings.TrimSpace(name), lk) {
				continue
			}
			if skip == 0 {
				out = append(out, fields[i])
				used[lk]++
				break
			}
			skip--
		}
	}
	return out
}
