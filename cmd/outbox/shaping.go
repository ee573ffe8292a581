package main

import (
	"context"
	"log/slog"

	"github.com/outbox-mta/outbox/config"
	"github.com/outbox-mta/outbox/delivery"
	"github.com/outbox-mta/outbox/mxresolve"
	"github.com/outbox-mta/outbox/queue"
	"github.com/outbox-mta/outbox/queue/admin"
	"github.com/outbox-mta/outbox/queue/shaping"
	"github.com/outbox-mta/outbox/store/pgstore"
)

// newShaper builds the traffic shaper of one process (shaperOptions).
func newShaper(cfg *config.Config, resolver *mxresolve.Resolver, del *delivery.Deliverer, log *slog.Logger) *shaping.Shaper {
	return shaping.New(shaperOptions(cfg, resolver, del, log))
}

// shapingState is the traffic shaper and the down list of the queue: in
// memory for a spool of one process (bbolt), in the database for a spool
// that several nodes share (PostgreSQL), so that their budgets and
// back-offs are one.
func shapingState(cfg *config.Config, resolver *mxresolve.Resolver, del *delivery.Deliverer, db spool, log *slog.Logger) (queue.Shaper, queue.DownList) {
	pg, ok := db.(*pgstore.DB)
	if !ok {
		return newShaper(cfg, resolver, del, log), nil
	}
	sh, _ := shaping.NewShared(shaping.SharedOptions{Options: shaperOptions(cfg, resolver, del, log), Ledger: pg.Budgets()})
	return sh, pg.Backoffs()
}

// The shared implementations fit their consumers.
var (
	_ shaping.Ledger = (*pgstore.Budgets)(nil)
	_ queue.DownList = (*pgstore.Backoffs)(nil)
)

// shaperOptions are the traffic shaper's: the [[shaping]] rules, then the
// presets not replaced by a rule of the same name; the [[throttle_reply]]
// rows, then the built-in table. MX suffixes are matched on the
// resolver's (cached) answer, for domains delivered direct only: a
// domain routed to a relay is never looked up.
func shaperOptions(cfg *config.Config, resolver *mxresolve.Resolver, del *delivery.Deliverer, log *slog.Logger) shaping.Options {
	var rules []shaping.Rule
	named := map[string]bool{}
	for _, r := range cfg.Shaping {
		named[r.Name] = true
		rules = append(rules, shaping.Rule{
			Name: r.Name, Domains: r.Domains, MXSuffixes: r.MXSuffixes, Source: "config",
			Limits: shaping.Limits{
				Connections: r.Connections, MessagesPerConnection: r.MessagesPerConnection,
				PerMinute: r.PerMinute, PerHour: r.PerHour, Burst: r.Burst,
				RecipientsPerTransaction: r.RecipientsPerTransaction,
			},
		})
	}
	if cfg.Delivery.ShapingPresets {
		for _, p := range shaping.Presets() {
			if !named[p.Name] {
				rules = append(rules, p)
			}
		}
	}
	var reactions []shaping.Reaction
	for _, x := range cfg.ThrottleReplies {
		a, _ := shaping.ParseAction(x.Action) // validated by config
		reactions = append(reactions, shaping.Reaction{Name: x.Name, Code: x.Code, Enhanced: x.Enhanced,
			Contains: x.Contains, Action: a, Suspend: x.Suspend.Duration, Source: "config"})
	}
	reactions = append(reactions, shaping.DefaultReactions()...)
	return shaping.Options{
		Rules:       rules,
		Reactions:   reactions,
		Lookup:      mxNames(resolver, del),
		RecoverStep: cfg.Delivery.ThrottleRecovery.Duration,
		Logger:      log,
	}
}

// mxNames adapts the resolver to the shaper: the MX host names of a
// domain delivered direct, none for one routed to a relay (the routes in
// effect, which a reload may change).
func mxNames(r *mxresolve.Resolver, del *delivery.Deliverer) shaping.LookupFunc {
	return func(ctx context.Context, domain string) ([]string, error) {
		routes, _ := del.Routes()
		route, ok := routes[domain]
		if !ok {
			route, ok = routes["*"]
		}
		if ok && route != "" && route != delivery.Direct {
			return nil, nil
		}
		hosts, err := r.Lookup(ctx, domain)
		if err != nil {
			return nil, err
		}
		names := make([]string, len(hosts))
		for i, h := range hosts {
			names[i] = h.Name
		}
		return names, nil
	}
}

// explainFunc serves `queue explain` from the queue's explanations.
func explainFunc(q *queue.Queue) func(ctx context.Context, id string) ([]admin.Explanation, error) {
	return func(ctx context.Context, id string) ([]admin.Explanation, error) {
		es, err := q.Ops().Explain(ctx, id)
		if err != nil {
			return nil, err
		}
		out := make([]admin.Explanation, len(es))
		for i, e := range es {
			out[i] = admin.Explanation{Rcpt: e.Rcpt, State: e.State.String(), Reason: e.Reason, Until: e.Until,
				Since: e.Since, Rule: e.Rule, Reply: e.Reply, Attempts: e.Attempts, Expires: e.Expires, Sentence: e.Sentence,
				Shared: e.Shared}
		}
		return out, nil
	}
}

// throttlesFunc lists, for `queue stats`, the destinations shaping holds
// back.
func throttlesFunc(q *queue.Queue) func() []admin.Throttle {
	return func() []admin.Throttle {
		var out []admin.Throttle
		for _, s := range q.Ops().Throttles() {
			out = append(out, admin.Throttle{Destination: s.Key, Rule: s.Rule, State: s.State, Since: s.Since,
				Until: s.Until, Reply: s.Reply, Reaction: s.Reaction, PerMinute: s.PerMinute,
				InFlight: s.InFlight, Parked: s.Parked, Reserved: s.Reserved, Shared: s.Shared})
		}
		return out
	}
}
