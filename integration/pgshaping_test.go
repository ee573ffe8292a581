package integration

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery/smtptest"
)

// TestPostgresNodesShareSuspension: two daemons on one database. A
// receiver answers node A's first transaction with a suspending 421 ("try
// again in 10 minutes"); node B, given mail for the same destination
// afterwards, does not attempt it (the receiver sees one transaction in
// all), and B's `queue explain` and `queue stats` say the destination is
// suspended, as every node's state.
func TestPostgresNodesShareSuspension(t *testing.T) {
	url := pg.Get(t).NewDatabase(t)
	w := newMXWorld(t, "busy.test. MX 10 mx.busy.test.", "mx.busy.test. A 127.0.0.2")
	var mails atomic.Int32
	w.mx(t, "127.0.0.2", smtptest.Options{
		Mail: func(string) error {
			mails.Add(1)
			return smtptest.Reply(421, "4.7.0", "[TSS04] Messages temporarily deferred, try again in 10 minutes")
		},
	})
	var nodes []*daemon
	for range 2 {
		dir := t.TempDir()
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
		nodes = append(nodes, startDaemon(t, dir, postgresConfig(w.config(t, dir, addr, ""), url, "10s"), addr))
	}
	a, b := nodes[0], nodes[1]
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("node B log:\n%s", b.log.String())
		}
	})
	submit(t, a.smtp, "app@sender.test", []string{"first@busy.test"}, "Subject: a\r\n\r\nx\r\n")
	waitFor(t, "busy.test suspended, seen from node B", 30*time.Second, func() bool {
		th := b.throttled()
		return len(th) == 1 && th[0]["destination"] == "busy.test" && th[0]["state"] == "suspended" && th[0]["shared"] == true
	})
	submit(t, b.smtp, "app@sender.test", []string{"second@busy.test"}, "Subject: b\r\n\r\nx\r\n")
	var why map[string]any
	waitFor(t, "node B's message held by the shared suspension", 30*time.Second, func() bool {
		for _, m := range b.decodeList(b.cli("queue", "list", "--json", "--domain", "busy.test")) {
			rcpts, _ := m["recipients"].([]any)
			if len(rcpts) == 1 && strings.Contains(fmt.Sprint(rcpts[0]), "second@") {
				es := b.explainJSON(m["id"].(string))
				if len(es) == 1 && es[0]["reason"] == "suspended" {
					why = es[0]
					return true
				}
			}
		}
		return false
	})
	if why["shared"] != true || !strings.Contains(why["sentence"].(string), "shared by every node") ||
		!strings.Contains(why["reply"].(string), "try again in 10 minutes") {
		t.Errorf("node B's explanation: %v", why)
	}
	if n := mails.Load(); n != 1 {
		t.Errorf("the receiver saw %d transactions, want node A's one: node B attempted a suspended destination", n)
	}
	summary(t, "shared suspension: node A's 421 suspended busy.test for node B too (%d transaction in all); B explains: %s",
		mails.Load(), why["sentence"])
}
