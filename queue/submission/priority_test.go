package submission

import (
	"testing"

	"github.com/outbox-mta/outbox/store"
)

// TestPriorityByUser: a message takes its lane from the policy, by the
// submitting user (here the trusted network's, ""); without a policy it
// is normal.
func TestPriorityByUser(t *testing.T) {
	for _, tt := range []struct {
		policy PriorityPolicy
		want   store.Priority
	}{
		{nil, store.PriorityNormal},
		{UserPriorities{"": store.PriorityBulk}, store.PriorityBulk},
		{UserPriorities{"app": store.PriorityHigh}, store.PriorityNormal},
	} {
		ts := startServer(t, func(o *Options) {
			if tt.policy != nil {
				o.Priorities = tt.policy
			}
		})
		c := client(t, ts.addr, "127.0.0.1")
		if _, err := send(c, "a@example.com", []string{"b@example.org"}, "Subject: x\r\n\r\nx\r\n"); err != nil {
			t.Fatal(err)
		}
		m, _ := ts.spool.get(t, ts.spool.id(0))
		if m.Priority != tt.want {
			t.Errorf("policy %v: priority %v, want %v", tt.policy, m.Priority, tt.want)
		}
	}
}
