package metrics

import (
	"testing"

	"github.com/outbox-mta/outbox/queue/webhook"
)

type fakeWebhooks []webhook.Status

func (f fakeWebhooks) Status() []webhook.Status { return f }

// TestWebhookMetrics: each endpoint's failed mark, cursor and counters are
// exported under its name; without webhooks none is.
func TestWebhookMetrics(t *testing.T) {
	m, err := New(Options{Queue: &fakeQueue{}, Webhooks: fakeWebhooks{
		{Name: "app", Cursor: 12, Failed: true, Requests: 30, Failures: 29, Delivered: 4},
		{Name: "crm", Cursor: 40, Requests: 5, Delivered: 40},
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := webhookSeries(t, m)
	want := map[string]float64{
		"outbox_webhook_endpoint_failed app": 1, "outbox_webhook_endpoint_failed crm": 0,
		"outbox_webhook_cursor app": 12, "outbox_webhook_cursor crm": 40,
		"outbox_webhook_requests_total app": 30, "outbox_webhook_requests_total crm": 5,
		"outbox_webhook_failures_total app": 29, "outbox_webhook_failures_total crm": 0,
		"outbox_webhook_events_delivered_total app": 4, "outbox_webhook_events_delivered_total crm": 40,
	}
	if len(got) != len(want) {
		t.Fatalf("series %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	none, err := New(Options{Queue: &fakeQueue{}})
	if err != nil {
		t.Fatal(err)
	}
	if got := webhookSeries(t, none); len(got) != 0 {
		t.Fatalf("without webhooks: %v", got)
	}
}

// webhookSeries gathers the outbox_webhook_* series as "name endpoint" →
// value.
func webhookSeries(t *testing.T, m *Metrics) map[string]float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			if len(s.GetLabel()) != 1 || s.GetLabel()[0].GetName() != "endpoint" {
				continue
			}
			v := s.GetGauge().GetValue() + s.GetCounter().GetValue()
			out[mf.GetName()+" "+s.GetLabel()[0].GetValue()] = v
		}
	}
	return out
}
