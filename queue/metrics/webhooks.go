package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/outbox-mta/outbox/queue/webhook"
)

// Webhooks is the webhook dispatcher as the metrics read it;
// *webhook.Dispatcher satisfies it.
type Webhooks interface {
	Status() []webhook.Status
}

var _ Webhooks = (*webhook.Dispatcher)(nil)

// webhookCollector exports each endpoint's state, labelled by its name.
type webhookCollector struct {
	src                                           Webhooks
	failed, cursor, requests, failures, delivered *prometheus.Desc
}

func newWebhookCollector(src Webhooks) *webhookCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(ns+"_webhook_"+name, help, []string{"endpoint"}, nil)
	}
	return &webhookCollector{
		src:       src,
		failed:    d("endpoint_failed", "1 while the webhook endpoint is marked failed (failing longer than its retry_for; probed slowly, resumed by `outbox webhooks redeliver`); 0 otherwise."),
		cursor:    d("cursor", "Sequence number of the last event the endpoint acknowledged (or its filter skipped)."),
		requests:  d("requests_total", "Requests sent to the endpoint."),
		failures:  d("failures_total", "Requests that failed: no answer, TLS error, timeout, or a status other than 2xx."),
		delivered: d("events_delivered_total", "Events the endpoint acknowledged with a 2xx."),
	}
}

func (c *webhookCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.failed, c.cursor, c.requests, c.failures, c.delivered} {
		ch <- d
	}
}

func (c *webhookCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.src.Status() {
		failed := 0.0
		if s.Failed {
			failed = 1
		}
		ch <- prometheus.MustNewConstMetric(c.failed, prometheus.GaugeValue, failed, s.Name)
		ch <- prometheus.MustNewConstMetric(c.cursor, prometheus.GaugeValue, float64(s.Cursor), s.Name)
		ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(s.Requests), s.Name)
		ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(s.Failures), s.Name)
		ch <- prometheus.MustNewConstMetric(c.delivered, prometheus.CounterValue, float64(s.Delivered), s.Name)
	}
}
