package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPipeliningWithPostfix relays the same messages to two real Postfix
// instances: one offers PIPELINING (RFC 2920) and takes 3 recipients per
// transaction; the other does not offer it. Both drop a client that
// writes ahead where RFC 2920 §3.1 forbids it. Per-recipient
// outcomes (250, 550, 450), the 452 4.5.3 batching, a message whose every
// recipient is refused (DATA in the pipeline answered 554) followed by
// another on the same session: every copy arrives exactly once, and
// neither instance logs improper pipelining.
func TestPipeliningWithPostfix(t *testing.T) {
	lockPeers(t)
	// Both drop a client that writes past a command that must end a group
	// (EHLO, DATA: RFC 2920 §3.1) and log it.
	const forbid = "smtpd_forbid_unauth_pipelining = yes\n"
	access := map[string]string{}
	for _, d := range []string{"pipe.test", "lock.test"} {
		access["nobody@"+d] = reply550
		access["nobody2@"+d] = reply550
		access["later@"+d] = reply450
	}
	pipe := startPostfix(t, postfixOptions{
		Name: "pipe", IP: "127.0.0.21", Hostname: "pipe.example.test",
		Domains: []string{"pipe.test"}, Access: access,
		MainCF: "smtpd_recipient_limit = 3\n" + forbid,
	})
	lock := startPostfix(t, postfixOptions{
		Name: "lockstep", IP: "127.0.0.22", Hostname: "lock.example.test",
		Domains: []string{"lock.test"}, Access: access,
		MainCF: "smtpd_discard_ehlo_keywords = pipelining\n" + forbid,
	})
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	d := startDaemon(t, dir, fmt.Sprintf(`hostname = "outbox.test"
[spool]
dir = %q
[[listen.submission]]
address = %q
[delivery]
tls_policy = "none"
first_retry = "1h"
[relay.pipe]
[[relay.pipe.server]]
host = "127.0.0.21"
port = 25
tls = "none"
[relay.lock]
[[relay.lock.server]]
host = "127.0.0.22"
port = 25
tls = "none"
[routes]
"pipe.test" = "pipe"
"lock.test" = "lock"
`, filepath.Join(dir, "spool"), addr), addr)

	start := time.Now()
	var rows []string
	for _, dom := range []string{"pipe.test", "lock.test"} {
		pf := map[string]*postfix{"pipe.test": pipe, "lock.test": lock}[dom]
		many := []string{"a@" + dom, "b@" + dom, "nobody@" + dom, "c@" + dom, "later@" + dom, "d@" + dom, "e@" + dom}
		want := map[string]string{"nobody@" + dom: "bounced", "later@" + dom: "deferred"}
		for _, r := range many {
			if want[r] == "" {
				want[r] = "delivered"
			}
		}
		msgs := []struct {
			from  string
			rcpts []string
			want  map[string]string
		}{
			{"many-" + dom + "@sender.test", many, want},
			{"refused-" + dom + "@sender.test", []string{"nobody@" + dom, "nobody2@" + dom},
				map[string]string{"nobody@" + dom: "bounced", "nobody2@" + dom: "bounced"}},
			{"after-" + dom + "@sender.test", []string{"f@" + dom}, map[string]string{"f@" + dom: "delivered"}},
		}
		for _, m := range msgs {
			submit(t, addr, m.from, m.rcpts, "From: "+m.from+"\r\nSubject: pipelining "+dom+"\r\n\r\nbody\r\n")
			d.waitStates(m.from, m.want, 60*time.Second)
		}
		copies := 0
		for _, r := range append(many, "f@"+dom) {
			n := len(pf.messages(t, r))
			if want := map[bool]int{true: 1, false: 0}[want[r] == "delivered" || r == "f@"+dom]; n != want {
				t.Errorf("%s: %d copies in the maildir, want %d", r, n, want)
			}
			copies += n
		}
		log, err := os.ReadFile(pf.maillog())
		if err != nil {
			t.Fatal(err)
		}
		improper := strings.Count(string(log), "improper command pipelining")
		if improper != 0 {
			t.Errorf("%s: Postfix logged improper command pipelining %d times", dom, improper)
		}
		// The first message needs two transactions where the limit is 3
		// accepted recipients (the 452 4.5.3 is not logged; qmgr logs each
		// queued transaction).
		txs := strings.Count(string(log), "from=<many-"+dom+"@sender.test>, size=")
		if want := map[string]int{"pipe.test": 2, "lock.test": 1}[dom]; txs != want {
			t.Errorf("%s: the first message took %d transactions, want %d", dom, txs, want)
		}
		rows = append(rows, fmt.Sprintf("%s: %d copies, each once; first message in %d transactions", dom, copies, txs))
	}
	summary(t, "Postfix with PIPELINING and a limit of 3 recipients, and Postfix without it: %s; %.1fs",
		strings.Join(rows, "; "), time.Since(start).Seconds())
}
