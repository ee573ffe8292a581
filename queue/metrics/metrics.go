package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/netutil"

	"github.com/outbox-mta/outbox/mxresolve"
	"github.com/outbox-mta/outbox/queue"
	"github.com/outbox-mta/outbox/store"
)

// QueueStats is the queue as the metrics read it; *queue.Queue satisfies it.
type QueueStats interface {
	Stats() queue.Stats
}

// ListenerStats are the submission listener's counters.
type ListenerStats struct {
	Accepted  uint64 // messages accepted and durably spooled
	ConnsOpen int    // client connections open now
}

// Listener is the submission listener's traffic as the metrics read it;
// cmd's listener counters satisfy it.
type Listener interface {
	ListenerStats() ListenerStats
}

// SpoolStats is the spool as the metrics read it; *store.DB and
// *pgstore.DB satisfy it.
type SpoolStats interface {
	Stats(ctx context.Context) (store.Stats, error)
}

// DNSCacheStats is the resolver's cache as the metrics read it;
// *mxresolve.Cache satisfies it.
type DNSCacheStats interface {
	Stats() mxresolve.CacheStats
}

var (
	_ QueueStats    = (*queue.Queue)(nil)
	_ SpoolStats    = (*store.DB)(nil)
	_ DNSCacheStats = (*mxresolve.Cache)(nil)
)

// Options configure New.
type Options struct {
	// Queue provides the event counters. Required.
	Queue QueueStats
	// Listener provides the accepted messages and open connections. nil:
	// those metrics are not exported.
	Listener Listener
	// Spool provides the queue size by state and the oldest message.
	// nil: those metrics are not exported.
	Spool SpoolStats
	// DNSCache provides the DNS cache's hits, misses and size. nil (the
	// cache is off): those metrics are not exported.
	DNSCache DNSCacheStats
	// Webhooks provides each webhook endpoint's state. nil (none
	// configured): those metrics are not exported.
	Webhooks Webhooks
	// Now is the clock for ages. Default time.Now.
	Now func() time.Time
	// Logger for a failed spool read and the server. Default
	// slog.Default(); the package adds component=metrics.
	Logger *slog.Logger
	// MaxConnections is the most connections served at once; more wait in
	// the listen backlog, holding no file descriptor of the daemon.
	// Default DefaultMaxConnections.
	MaxConnections int
	// IdleTimeout closes a keep-alive connection idle this long; read and
	// write timeouts bound each request. Default DefaultIdleTimeout.
	IdleTimeout time.Duration
	// Build names the running binary, exported as outbox_build_info.
	// Zero: that metric is not exported.
	Build BuildInfo
}

// BuildInfo identifies a binary. It is exported as the constant gauge
// outbox_build_info{version,commit,goversion} 1, the Prometheus idiom for
// joining a version onto other series.
type BuildInfo struct {
	Version   string // module version ("v1.2.0", "(devel)")
	Commit    string // VCS revision, with "-dirty" for a modified tree; "" unknown
	GoVersion string // the Go toolchain that built it ("go1.26.0")
}

// Defaults of the HTTP server. A scraper needs one connection; the cap
// and timeouts keep idle or stuck clients from holding the daemon's file
// descriptors, which the SMTP listener needs.
const (
	DefaultMaxConnections = 16
	DefaultIdleTimeout    = 30 * time.Second
	readTimeout           = 10 * time.Second
	writeTimeout          = 30 * time.Second
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("metrics: server closed")

// Metrics is the registry and its HTTP endpoint.
type Metrics struct {
	reg  *prometheus.Registry
	srv  *http.Server
	coll *collector
	max  int
}

// New builds the registry: Outbox's collector, plus the Go runtime and
// process collectors.
func New(opts Options) (*Metrics, error) {
	if opts.Queue == nil {
		return nil, errors.New("metrics: Options.Queue is required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = DefaultMaxConnections
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	log := opts.Logger.With("component", "metrics")
	c := newCollector(opts, log)
	reg := prometheus.NewRegistry()
	cols := []prometheus.Collector{
		c,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}
	if opts.Build != (BuildInfo{}) {
		cols = append(cols, buildInfo(opts.Build))
	}
	if opts.Webhooks != nil {
		cols = append(cols, newWebhookCollector(opts.Webhooks))
	}
	for _, col := range cols {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	m := &Metrics{reg: reg, coll: c, max: opts.MaxConnections}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	m.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: readTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       opts.IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return m, nil
}

// buildInfo is the constant gauge naming the binary.
func buildInfo(b BuildInfo) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: ns,
		Name:      "build_info",
		Help:      "Always 1; its labels name the running binary's version, VCS commit and Go version.",
		ConstLabels: prometheus.Labels{
			"version": b.Version, "commit": b.Commit, "goversion": b.GoVersion,
		},
	}, func() float64 { return 1 })
}

// Registry returns the private registry, for tests and embedding.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Serve answers scrapes on l until Shutdown, at most
// Options.MaxConnections connections at once.
func (m *Metrics) Serve(l net.Listener) error {
	err := m.srv.Serve(netutil.LimitListener(l, m.max))
	if errors.Is(err, http.ErrServerClosed) {
		return ErrServerClosed
	}
	return err
}

// Shutdown stops Serve, letting a scrape in progress finish until ctx ends.
func (m *Metrics) Shutdown(ctx context.Context) error {
	return m.srv.Shutdown(ctx)
}

// spoolReader reads the spool's counts at each scrape (store.DB.Stats
// reads no record: the store keeps them as it commits), and keeps the last
// good ones for a scrape whose read fails.
type spoolReader struct {
	src SpoolStats
	log *slog.Logger

	mu   sync.Mutex
	last store.Stats
	ok   bool
}

func (c *spoolReader) get(ctx context.Context) (store.Stats, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, err := c.src.Stats(ctx)
	if err != nil {
		c.log.Warn("cannot read spool statistics", "err", err)
		return c.last, c.ok // stale beats missing
	}
	c.last, c.ok = s, true
	return s, true
}
