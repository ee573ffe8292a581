package delivery

import (
	"context"
	"sync"
	"testing"

	"github.com/outbox-mta/outbox/delivery/smtptest"
)

// TestSetRoutes swaps the relay of a running Deliverer: the pooled
// connection to the old relay is dropped and the next message goes to the
// new one, with its own credentials.
func TestSetRoutes(t *testing.T) {
	oldSrv := startServer(t, "127.0.0.3", smtptest.Options{AllowInsecureAuth: true, Users: map[string]string{"old": "pw1"}})
	newSrv := startServer(t, "127.0.0.4", smtptest.Options{AllowInsecureAuth: true, Users: map[string]string{"new": "pw2"}})
	dl := &mapDialer{to: map[string]string{"old.test:587": oldSrv.Addr, "new.test:587": newSrv.Addr}}
	d := relayDeliverer(t, dl, RelayServer{Host: "old.test", TLSMode: TLSModeNone, Port: 587, Username: "old", Password: "pw1"})

	tests := []struct {
		name   string
		routes map[string]string
		relays map[string][]RelayServer
		domain string
		want   *smtptest.Server
		user   string
	}{
		{name: "initial relay", domain: "example.test", want: oldSrv, user: "old"},
		{
			name:   "relay server and credentials replaced",
			routes: map[string]string{"*": "smarthost"},
			relays: map[string][]RelayServer{"smarthost": {{Host: "new.test", TLSMode: TLSModeNone, Port: 587, Username: "new", Password: "pw2"}}},
			domain: "example.test", want: newSrv, user: "new",
		},
		{
			name:   "domain routed to a relay of another name",
			routes: map[string]string{"special.test": "back", "*": "smarthost"},
			relays: map[string][]RelayServer{
				"smarthost": {{Host: "new.test", TLSMode: TLSModeNone, Port: 587, Username: "new", Password: "pw2"}},
				"back":      {{Host: "old.test", TLSMode: TLSModeNone, Port: 587, Username: "old", Password: "pw1"}},
			},
			domain: "special.test", want: oldSrv, user: "old",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.routes != nil {
				d.SetRoutes(tt.routes, tt.relays)
				if n := d.pool.idleLen("relay:smarthost"); n != 0 {
					t.Errorf("%d idle sessions kept after SetRoutes, want 0", n)
				}
			}
			before := len(tt.want.Messages())
			res := d.Deliver(context.Background(), envelope(tt.domain, true, "a@"+tt.domain))
			if res.Rcpts[0].Status != Delivered {
				t.Fatalf("%+v", res)
			}
			msgs := tt.want.Messages()
			if len(msgs) != before+1 {
				t.Fatalf("%d messages at the expected relay, want %d", len(msgs), before+1)
			}
			if got := msgs[len(msgs)-1].AuthUser; got != tt.user {
				t.Errorf("authenticated as %q, want %q", got, tt.user)
			}
		})
	}
}

// TestSetRoutesConcurrent swaps routes while deliveries run (for -race).
func TestSetRoutesConcurrent(t *testing.T) {
	srv := startServer(t, "127.0.0.3", smtptest.Options{})
	dl := &mapDialer{to: map[string]string{"relay.test:587": srv.Addr}}
	relays := map[string][]RelayServer{"smarthost": {{Host: "relay.test", TLSMode: TLSModeNone, Port: 587}}}
	d := relayDeliverer(t, dl, relays["smarthost"]...)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 5 {
				if res := d.Deliver(context.Background(), envelope("example.test", true, "a@example.test")); res.Rcpts[0].Status != Delivered {
					t.Errorf("%+v", res)
				}
			}
		})
	}
	for range 10 {
		d.SetRoutes(map[string]string{"*": "smarthost"}, relays)
	}
	wg.Wait()
	if n := len(srv.Messages()); n != 20 {
		t.Errorf("%d messages, want 20", n)
	}
}
