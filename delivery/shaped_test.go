package delivery

import (
	"context"
	"fmt"
	"testing"

	"github.com/outbox-mta/outbox/delivery/smtptest"
)

// An envelope's own limits (a destination's shaping budget) lower the
// Deliverer's: fewer recipients per transaction, fewer messages per
// session.
func TestEnvelopeLowersSessionLimits(t *testing.T) {
	srv := startServer(t, "127.0.0.2", smtptest.Options{})
	d := oneMX(t, srv)
	env := envelope("example.test", true, manyRcpts(25)...)
	env.MaxRcptsPerTx = 10
	if res := d.Deliver(context.Background(), env); countStatus(res, Delivered) != 25 {
		t.Fatalf("delivered %d of 25", countStatus(res, Delivered))
	}
	var sizes []int
	for _, m := range srv.Messages() {
		sizes = append(sizes, len(m.Rcpts))
	}
	if fmt.Sprint(sizes) != "[10 10 5]" {
		t.Errorf("transactions %v, want [10 10 5]", sizes)
	}

	// Two messages per session: the third and fourth go on a second one.
	srv2 := startServer(t, "127.0.0.3", smtptest.Options{})
	d2 := oneMX(t, srv2)
	for i := range 4 {
		e := envelope("example.test", true, "a@example.test")
		e.MaxMsgsPerConn = 2
		if res := d2.Deliver(context.Background(), e); res.Rcpts[0].Status != Delivered {
			t.Fatalf("message %d: %+v", i, res)
		}
		waitFor(t, "the session settled", func() bool {
			return d2.pool.idleLen("direct:example.test") == (i+1)%2
		})
	}
	if n := srv2.Connections(); n != 2 {
		t.Errorf("%d connections for 4 messages at 2 per session, want 2", n)
	}
}
