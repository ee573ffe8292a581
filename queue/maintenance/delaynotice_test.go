package maintenance

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// A delay warning honours NOTIFY (RFC 3461 §4.1): it reports recipients
// that asked for DELAY or gave no NOTIFY, never those with NEVER or a list
// without DELAY, and carries the ENVID and ORCPT.
func TestDelayWarningHonoursNotify(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	quiet := w.add(t, "quiet@src.example", store.StateDeferred, store.StateDeferred)
	asked := w.add(t, "asked@src.example", store.StateDeferred, store.StateDeferred, store.StateDeferred)
	for id, notify := range map[string][]store.DSNNotify{
		quiet: {store.NotifyNever, store.NotifyFailure | store.NotifySuccess},
		asked: {store.NotifyDelay, store.NotifyNever, 0},
	} {
		err := w.db.Update(ctx, id, func(sm *store.Message) error {
			sm.EnvID = "env-" + id
			for i, n := range notify {
				sm.Recipients[i].Notify = n
				sm.Recipients[i].ORcpt = "rfc822;Orig-" + sm.Recipients[i].Addr
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	r := w.runner(t, Options{DelayWarning: time.Hour})
	w.now = t0.Add(2 * time.Hour)
	if err := r.DelayWarnings(ctx); err != nil {
		t.Fatal(err)
	}
	notices := w.notices(t)
	if len(notices) != 1 || notices[0].Recipients[0].Addr != "asked@src.example" {
		t.Fatalf("notices %+v, want one to asked@src.example", notices)
	}
	rc, err := w.db.OpenBody(ctx, notices[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rc)
	rc.Close()
	for _, want := range []string{"Original-Envelope-Id: env-" + asked, "Original-Recipient: rfc822;Orig-a@dest.example",
		"Final-Recipient: rfc822; a@dest.example", "Final-Recipient: rfc822; c@dest.example"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("notice lacks %q", want)
		}
	}
	if strings.Contains(string(body), "b@dest.example") {
		t.Error("notice reports the NOTIFY=NEVER recipient")
	}
}
