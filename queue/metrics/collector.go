package metrics

import (
	"context"
	"log/slog"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/outbox-mta/outbox/queue"
	"github.com/outbox-mta/outbox/store"
)

// collector turns queue.Stats, ListenerStats and store.Stats into metrics at scrape time.
type collector struct {
	q     QueueStats
	spool *spoolReader // nil without Options.Spool
	opts  Options

	accepted, delivered, deferred, bounced, attempts *prometheus.Desc
	duration, ambiguous, dsns, conns, inFlight       *prometheus.Desc
	destDown, recipients, pending, oldest, fileSize  *prometheus.Desc
	paused, commitFailures, commitBackoff            *prometheus.Desc
	dnsHits, dnsMisses, dnsEntries                   *prometheus.Desc
	shaped, reactions, throttled, parks              *prometheus.Desc
}

// Metric names. Counters end in _total (Prometheus naming conventions).
const ns = "outbox"

func newCollector(opts Options, log *slog.Logger) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(ns+"_"+name, help, labels, nil)
	}
	c := &collector{
		q:    opts.Queue,
		opts: opts,

		accepted:       d("messages_accepted_total", "Messages accepted by the submission listener and durably spooled."),
		delivered:      d("recipients_delivered_total", "Recipients delivered (the remote server accepted the message)."),
		deferred:       d("recipients_deferred_total", "Recipients deferred after an attempt (temporary failure), or skipped while their destination is backed off."),
		bounced:        d("recipients_bounced_total", "Recipients bounced, by reason: remote-5xx, expired, dns, policy, suppressed.", "reason"),
		attempts:       d("delivery_attempts_total", "Delivery attempts (one SMTP transaction per destination domain), by TLS version of the last host tried, or none.", "tls"),
		duration:       d("delivery_attempt_duration_seconds", "Wall time of each delivery attempt, resolution and every host tried included."),
		ambiguous:      d("deliveries_ambiguous_total", "Attempts whose connection was lost after the final dot: maybe delivered, deferred and retried (a possible duplicate)."),
		dsns:           d("notices_queued_total", "Delivery status notifications queued to senders (bounces and delay warnings)."),
		conns:          d("submission_connections_open", "Submission connections open now."),
		inFlight:       d("deliveries_in_flight", "Messages being delivered now."),
		destDown:       d("destinations_down", "Destinations backed off as a whole because none of their hosts could be reached."),
		paused:         d("dispatch_paused", "1 while no delivery starts because the spool refuses commits (disk full, I/O error); 0 otherwise."),
		commitFailures: d("outcome_commit_failures_total", "Delivery outcomes the spool could not record; the message is retried after a back-off (a possible duplicate)."),
		commitBackoff:  d("commit_backoff_messages", "Messages waiting out a back-off after their delivery outcome could not be recorded."),
		dnsHits:        d("dns_cache_hits_total", "DNS questions (MX, A, AAAA) answered by the resolver's cache, or by a query already in flight for them."),
		dnsMisses:      d("dns_cache_misses_total", "DNS questions that sent a query to the DNS server."),
		dnsEntries:     d("dns_cache_entries", "Answers held in the resolver's cache now."),
		shaped:         d("shaping_destinations", "Destinations traffic shaping holds back now, by state: suspended, throttled (rate lowered after a slow-down reply), rate-limited, connection-limited.", "state"),
		reactions:      d("shaping_reactions_total", "Slow-down replies acted on, by reaction (the table row that matched).", "reaction"),
		throttled:      d("throttled_recipients_total", "Recipients deferred without an attempt by their destination's budget (a rate slot or a suspension)."),
		parks:          d("shaping_parked_total", "Deliveries that waited for a connection of their destination's budget."),
		recipients:     d("queue_recipients", "Recipients in the spool by state (finished ones stay until pruned).", "state"),
		pending:        d("queue_messages_pending", "Messages with a recipient queued or deferred (one whose only unfinished recipients are held waits for an operator)."),
		oldest:         d("queue_oldest_message_age_seconds", "Age of the oldest pending message (as in queue_messages_pending); 0 when none."),
		fileSize:       d("spool_file_bytes", "Size of the spool's bbolt file (it never shrinks)."),
	}
	if opts.Spool != nil {
		c.spool = &spoolReader{src: opts.Spool, log: log}
	}
	return c
}

// Describe sends every descriptor (a checked collector: the registry
// rejects a duplicate name at New, not at the first scrape).
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.delivered, c.deferred, c.bounced, c.attempts, c.duration,
		c.ambiguous, c.dsns, c.inFlight, c.destDown,
		c.paused, c.commitFailures, c.commitBackoff,
		c.shaped, c.reactions, c.throttled, c.parks,
	} {
		ch <- d
	}
	if c.opts.Listener != nil {
		ch <- c.accepted
		ch <- c.conns
	}
	if c.spool != nil {
		for _, d := range []*prometheus.Desc{c.recipients, c.pending, c.oldest, c.fileSize} {
			ch <- d
		}
	}
	if c.opts.DNSCache != nil {
		for _, d := range []*prometheus.Desc{c.dnsHits, c.dnsMisses, c.dnsEntries} {
			ch <- d
		}
	}
}

// bounceReasons are always exported, at 0 until the first bounce, so a
// rate() over them works from the start.
var bounceReasons = [...]string{queue.BounceRemote5xx, queue.BounceExpired, queue.BounceDNS, queue.BouncePolicy, queue.BounceSuppressed}

// shapedStates are always exported, at 0 when none, so an alert on
// suspended destinations has a series from the start.
var shapedStates = [...]string{"suspended", "throttled", "rate-limited", "connection-limited"}

// Collect reads the counters now.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.q.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if c.opts.Listener != nil {
		ls := c.opts.Listener.ListenerStats()
		counter(c.accepted, ls.Accepted)
		gauge(c.conns, float64(ls.ConnsOpen))
	}
	counter(c.delivered, s.Delivered)
	counter(c.deferred, s.Deferred+s.DestinationSkips)
	for _, r := range bounceReasons {
		counter(c.bounced, s.BouncedBy[r], r)
	}
	for _, v := range sortedKeys(s.AttemptsByTLS) {
		counter(c.attempts, s.AttemptsByTLS[v], v)
	}
	h := s.AttemptDuration
	buckets := make(map[float64]uint64, len(h.Bounds))
	for i, b := range h.Bounds {
		buckets[b] = h.Counts[i]
	}
	ch <- prometheus.MustNewConstHistogram(c.duration, h.Count, h.Sum, buckets)
	counter(c.ambiguous, s.Ambiguous)
	counter(c.dsns, s.DSNs)
	gauge(c.inFlight, float64(s.InFlight))
	gauge(c.destDown, float64(s.DownDomains))
	paused := 0.0
	if s.DispatchPaused {
		paused = 1
	}
	gauge(c.paused, paused)
	counter(c.commitFailures, s.CommitFailures)
	gauge(c.commitBackoff, float64(s.CommitBackoff))
	for _, st := range shapedStates {
		gauge(c.shaped, float64(s.Shaping.Destinations[st]), st)
	}
	for _, r := range sortedKeys(s.Shaping.Reactions) {
		counter(c.reactions, s.Shaping.Reactions[r], r)
	}
	counter(c.throttled, s.Shaping.Throttled)
	counter(c.parks, s.Shaping.Parks)
	if c.opts.DNSCache != nil {
		ds := c.opts.DNSCache.Stats()
		counter(c.dnsHits, ds.Hits)
		counter(c.dnsMisses, ds.Misses)
		gauge(c.dnsEntries, float64(ds.Entries))
	}

	if c.spool == nil {
		return
	}
	sp, ok := c.spool.get(context.Background())
	if !ok {
		return
	}
	for st := store.StateQueued; st <= store.StateHeld; st++ {
		gauge(c.recipients, float64(sp.Recipients[st]), st.String())
	}
	gauge(c.pending, float64(sp.Pending))
	age := 0.0
	if !sp.OldestPending.IsZero() {
		age = max(0, c.opts.Now().Sub(sp.OldestPending).Seconds())
	}
	gauge(c.oldest, age)
	gauge(c.fileSize, float64(sp.FileSize))
}

func sortedKeys(m map[string]uint64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
