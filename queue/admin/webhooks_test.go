package admin_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/outbox-mta/outbox/queue/admin"
	"github.com/outbox-mta/outbox/queue/admin/admintest"
	"github.com/outbox-mta/outbox/store"
)

// fakeWebhooks has one failed endpoint "app" and one healthy "crm".
type fakeWebhooks struct{ resumed []string }

func (f *fakeWebhooks) WebhookEndpoints(context.Context) ([]admin.WebhookEndpoint, error) {
	return []admin.WebhookEndpoint{
		{Name: "app", URL: "https://app.example/hook", Cursor: 3, Failed: true, LastError: "HTTP 503"},
		{Name: "crm", URL: "https://crm.example/hook", Cursor: 9},
	}, nil
}

func (f *fakeWebhooks) RedeliverWebhooks(_ context.Context, name string) ([]string, error) {
	switch name {
	case "", "app":
		f.resumed = append(f.resumed, "app")
		return []string{"app"}, nil
	case "crm":
		return []string{"crm"}, nil
	}
	return nil, fmt.Errorf("%w: %q", admin.ErrNoEndpoint, name)
}

func (f *fakeWebhooks) LastEventSeq() uint64 { return 9 }

// TestWebhooksOps: status lists the endpoints with the newest sequence
// number; redeliver resumes by name or every failed one; an unknown name
// is 404; a daemon without webhooks lists none and refuses redeliver.
func TestWebhooksOps(t *testing.T) {
	wh := &fakeWebhooks{}
	c := admin.NewClient(admintest.ServeWith(t, admin.Options{Queue: admintest.NewQueue(t), Webhooks: wh}))
	defer c.Close()
	ctx := context.Background()
	eps, last, err := c.WebhookEndpoints(ctx)
	if err != nil || len(eps) != 2 || !eps[0].Failed || eps[0].LastError != "HTTP 503" || eps[1].Cursor != 9 || last != 9 {
		t.Fatalf("WebhookEndpoints = %+v, %d, %v", eps, last, err)
	}
	if names, err := c.RedeliverWebhooks(ctx, ""); err != nil || !slices.Equal(names, []string{"app"}) {
		t.Fatalf("RedeliverWebhooks(all failed) = %v, %v", names, err)
	}
	var re *admin.RemoteError
	if _, err := c.RedeliverWebhooks(ctx, "nope"); !errors.As(err, &re) || re.StatusCode != 404 || !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("RedeliverWebhooks(unknown) = %v", err)
	}
	none := admin.NewClient(admintest.Serve(t, admintest.NewQueue(t)))
	defer none.Close()
	if eps, _, err := none.WebhookEndpoints(ctx); err != nil || len(eps) != 0 {
		t.Fatalf("without webhooks: %+v, %v", eps, err)
	}
	if _, err := none.RedeliverWebhooks(ctx, "app"); !errors.As(err, &re) || re.StatusCode != 404 {
		t.Fatalf("redeliver without webhooks: %v", err)
	}
}
