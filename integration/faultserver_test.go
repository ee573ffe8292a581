package integration

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// faultServer is a scripted misbehaving SMTP server on raw TCP: its first
// connection runs misbehave, every later one is a plain, correct SMTP
// dialogue that accepts the message. It records the messages it accepted.
type faultServer struct {
	l         net.Listener
	misbehave func(c net.Conn, r *bufio.Reader)
	conns     atomic.Int32
	delivered atomic.Int32

	mu   sync.Mutex
	open map[net.Conn]bool
	wg   sync.WaitGroup
}

func startFaultServer(t *testing.T, addr string, misbehave func(c net.Conn, r *bufio.Reader)) *faultServer {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &faultServer{l: l, misbehave: misbehave, open: map[net.Conn]bool{}}
	s.wg.Go(s.serve)
	t.Cleanup(s.close)
	return s
}

func (s *faultServer) serve() {
	for {
		c, err := s.l.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.open[c] = true
		s.mu.Unlock()
		n := s.conns.Add(1)
		s.wg.Go(func() {
			defer func() {
				c.Close()
				s.mu.Lock()
				delete(s.open, c)
				s.mu.Unlock()
			}()
			r := bufio.NewReader(c)
			if n == 1 {
				s.misbehave(c, r)
				return
			}
			s.good(c, r)
		})
	}
}

// close stops the server and every connection, and waits for its
// goroutines, so that a goroutine count afterwards sees only the daemon's.
func (s *faultServer) close() {
	s.l.Close()
	s.mu.Lock()
	for c := range s.open {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// good is a minimal correct SMTP server (RFC 5321 §4.1) that accepts
// everything.
func (s *faultServer) good(c net.Conn, r *bufio.Reader) {
	say := func(lines ...string) bool {
		_, err := c.Write([]byte(strings.Join(lines, "\r\n") + "\r\n"))
		return err == nil
	}
	if !say("220 good.test ESMTP") {
		return
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		verb := strings.ToUpper(strings.Fields(line + " x")[0])
		switch verb {
		case "EHLO":
			say("250-good.test", "250-8BITMIME", "250 PIPELINING")
		case "HELO", "MAIL", "RCPT", "RSET", "NOOP":
			say("250 2.0.0 ok")
		case "DATA":
			say("354 go ahead")
			if !readToDot(r) {
				return
			}
			s.delivered.Add(1)
			say("250 2.0.0 accepted")
		case "QUIT":
			say("221 2.0.0 bye")
			return
		default:
			say("502 5.5.2 not implemented")
		}
	}
}

// readToDot reads a DATA body up to its final dot.
func readToDot(r *bufio.Reader) bool {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return false
		}
		if line == ".\r\n" {
			return true
		}
	}
}

// dialogue plays a correct server up to (not including) the reply to the
// command named stop ("RCPT", "DATA" or "DOT" for the final dot), and
// reports whether it got there.
func dialogue(c net.Conn, r *bufio.Reader, stop string) bool {
	say := func(s string) { c.Write([]byte(s + "\r\n")) }
	say("220 fault.test ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return false
		}
		verb := strings.ToUpper(strings.Fields(line + " x")[0])
		if verb == stop {
			return true
		}
		switch verb {
		case "EHLO":
			say("250-fault.test\r\n250 8BITMIME")
		case "DATA":
			say("354 go ahead")
			if stop == "DOT" {
				return readToDot(r)
			}
			say("250 2.0.0 ok")
		default:
			say("250 2.0.0 ok")
		}
	}
}

// silence reads until the client gives up and closes.
func silence(c net.Conn, r *bufio.Reader) {
	buf := make([]byte, 512)
	for {
		if _, err := r.Read(buf); err != nil {
			return
		}
	}
}

// faultScripts are the misbehaving remote servers, each for a first attempt.
var faultScripts = []struct {
	name      string
	misbehave func(c net.Conn, r *bufio.Reader)
}{
	{"drop after RCPT", func(c net.Conn, r *bufio.Reader) { dialogue(c, r, "RCPT") }},
	{"drop mid-DATA", func(c net.Conn, r *bufio.Reader) {
		if dialogue(c, r, "DATA") {
			c.Write([]byte("354 go ahead\r\n"))
			r.ReadString('\n') // one line of the body, then gone
		}
	}},
	{"drop before the final reply", func(c net.Conn, r *bufio.Reader) { dialogue(c, r, "DOT") }},
	{"421 at greeting", func(c net.Conn, r *bufio.Reader) {
		c.Write([]byte("421 4.3.2 fault.test busy, come back later\r\n"))
	}},
	{"garbage greeting", func(c net.Conn, r *bufio.Reader) {
		c.Write([]byte("SSH-2.0-OpenSSH_9.2\r\n\x00\xff\xfe garbage\r\n"))
		silence(c, r)
	}},
	{"garbage reply to EHLO", func(c net.Conn, r *bufio.Reader) {
		c.Write([]byte("220 fault.test ESMTP\r\n"))
		r.ReadString('\n')
		c.Write([]byte("hello? \x01\x02 25O ok\r\n"))
		silence(c, r)
	}},
	{"multi-line 451 to MAIL", func(c net.Conn, r *bufio.Reader) {
		if dialogue(c, r, "MAIL") {
			c.Write([]byte("451-4.3.0 first line\r\n451-second line\r\n451 4.3.0 third line\r\n"))
			silence(c, r)
		}
	}},
	{"multi-line reply with mismatched codes", func(c net.Conn, r *bufio.Reader) {
		if dialogue(c, r, "RCPT") {
			c.Write([]byte("250-2.1.5 fine\r\n550 5.1.1 or not\r\n"))
			silence(c, r)
		}
	}},
	{"greeting trickled a byte at a time", func(c net.Conn, r *bufio.Reader) {
		// An endless multi-line greeting, one byte every 20ms: only a
		// deadline over the whole reply (not per read) ends it.
		const line = "220-fault.test trickling\r\n"
		for i := 0; ; i++ {
			if _, err := c.Write([]byte{line[i%len(line)]}); err != nil {
				return
			}
			time.Sleep(20 * time.Millisecond) // the misbehaviour itself, not synchronisation
		}
	}},
	{"never answers", silence},
}
