package smtptest

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// ScriptOptions script a Script server. The zero value offers no
// extension and accepts everything.
type ScriptOptions struct {
	// Addr to listen on; default "127.0.0.1:0". Loopback only.
	Addr string
	// Pipelining offers PIPELINING (RFC 2920).
	Pipelining bool
	// Extensions are further EHLO keywords ("8BITMIME", "DSN", "SIZE 1000").
	Extensions []string
	// Reply answers a command line ("RCPT TO:<b@example.test>") with a
	// reply line ("550 5.1.1 no such user"), or "" for the default: 250;
	// for DATA, 354 when a recipient was accepted and 554 5.5.1 otherwise
	// (RFC 2920 §3.1); 221 for QUIT. Drop closes the connection without
	// replying. It is called for the final dot too, as ".".
	Reply func(cmd string) string
}

// Drop, as a ScriptOptions.Reply, closes the connection without a reply.
const Drop = "drop"

// Script is a raw, line-based SMTP server whose every reply is scripted. It
// records the commands it receives and the messages it accepts, and
// whether a client wrote a command before it had the reply to the
// previous one where RFC 2920 does not allow it: to a server that does not
// offer PIPELINING, or after DATA.
type Script struct {
	Addr string

	opts ScriptOptions
	ln   net.Listener
	wg   sync.WaitGroup

	mu         sync.Mutex
	conns      []net.Conn
	cmds       []string
	violations []string
	msgs       []Message
}

// StartScript starts a Script server and stops it when the test ends.
func StartScript(t testing.TB, opts ScriptOptions) *Script {
	t.Helper()
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		t.Fatalf("smtptest: listen %s: %v", opts.Addr, err)
	}
	s := &Script{Addr: ln.Addr().String(), opts: opts, ln: ln}
	s.wg.Go(s.serve)
	t.Cleanup(s.Close)
	return s
}

// Close stops the server and closes every connection.
func (s *Script) Close() {
	s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Connections is the number of connections accepted so far.
func (s *Script) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Commands lists the command lines received, in order, over all
// connections; message content is not included, the final dot is.
func (s *Script) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.cmds...)
}

// Violations lists the commands a client sent ahead of a reply it had to
// wait for.
func (s *Script) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.violations...)
}

// Messages returns the messages accepted (final dot answered 2xx).
func (s *Script) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

func (s *Script) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		s.wg.Go(func() {
			defer c.Close()
			s.session(c)
		})
	}
}

// session runs one connection: greeting, then command after command.
func (s *Script) session(c net.Conn) {
	r := bufio.NewReader(c)
	say := func(line string) bool {
		_, err := c.Write([]byte(line + "\r\n"))
		return err == nil
	}
	if !say("220 script.test ESMTP") {
		return
	}
	var m Message
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(strings.SplitN(cmd, " ", 2)[0])
		s.record(cmd, r.Buffered() > 0 && (!s.opts.Pipelining || verb == "DATA" || verb == "EHLO" || verb == "QUIT"))
		if verb == "EHLO" {
			if !say(s.ehlo()) {
				return
			}
			continue
		}
		reply := s.reply(cmd, verb, &m)
		if reply == Drop || !say(reply) {
			return
		}
		switch {
		case verb == "QUIT" || strings.HasPrefix(reply, "421"):
			return
		case verb == "DATA" && strings.HasPrefix(reply, "354"):
			if !s.data(c, r, &m) {
				return
			}
		}
	}
}

// record notes a command and whether it came ahead of a reply.
func (s *Script) record(cmd string, early bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cmds = append(s.cmds, cmd)
	if early {
		s.violations = append(s.violations, cmd)
	}
}

func (s *Script) ehlo() string {
	lines := []string{"script.test"}
	if s.opts.Pipelining {
		lines = append(lines, "PIPELINING")
	}
	lines = append(lines, s.opts.Extensions...)
	var b strings.Builder
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		if i > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString("250" + sep + l)
	}
	return b.String()
}

// reply is the scripted or default reply to cmd, and tracks the
// transaction in m.
func (s *Script) reply(cmd, verb string, m *Message) string {
	reply := ""
	if s.opts.Reply != nil {
		reply = s.opts.Reply(cmd)
	}
	if reply == "" {
		switch verb {
		case "DATA":
			reply = "554 5.5.1 no valid recipients"
			if len(m.Rcpts) > 0 {
				reply = "354 go ahead"
			}
		case "QUIT":
			reply = "221 2.0.0 bye"
		default:
			reply = "250 2.0.0 ok"
		}
	}
	ok := strings.HasPrefix(reply, "2")
	switch verb {
	case "MAIL":
		*m = Message{}
		if ok {
			m.From = addrOf(cmd)
		}
	case "RCPT":
		if ok {
			m.Rcpts = append(m.Rcpts, addrOf(cmd))
		}
	case "RSET":
		*m = Message{}
	}
	return reply
}

// data reads the message up to the final dot, replies to it, and records
// an accepted message. It reports false when the connection is done.
func (s *Script) data(c net.Conn, r *bufio.Reader, m *Message) bool {
	var body strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return false
		}
		if line == ".\r\n" {
			break
		}
		body.WriteString(strings.TrimPrefix(line, "."))
	}
	s.record(".", false)
	reply := "250 2.0.0 queued"
	if s.opts.Reply != nil {
		if r := s.opts.Reply("."); r != "" {
			reply = r
		}
	}
	if reply == Drop {
		return false
	}
	if strings.HasPrefix(reply, "2") {
		msg := *m
		msg.Data = []byte(body.String())
		msg.Received = time.Now()
		s.mu.Lock()
		s.msgs = append(s.msgs, msg)
		s.mu.Unlock()
	}
	*m = Message{}
	_, err := c.Write([]byte(reply + "\r\n"))
	return err == nil && !strings.HasPrefix(reply, "421")
}

// addrOf is the address between < and > of a MAIL or RCPT command.
func addrOf(cmd string) string {
	i, j := strings.IndexByte(cmd, '<'), strings.IndexByte(cmd, '>')
	if i < 0 || j < i {
		return ""
	}
	return cmd[i+1 : j]
}
