package queue

import (
	"context"
	"sync"
	"time"

	"github.com/outbox-mta/outbox/delivery"
)

// DownList remembers the destination domains whose every host failed at
// an attempt (delivery.Result.DestinationDown), so that the queue's other
// messages for them wait instead of hammering them (Options.DownList).
// Times are the queue's clock; an implementation shared by several nodes
// (*pgstore.Backoffs) keeps them as offsets from its own clock, so the
// nodes agree on when a back-off ends whatever their clocks say.
type DownList interface {
	// Down reports whether domain is backed off at now, until when, and
	// the error that took it down.
	Down(ctx context.Context, domain string, now time.Time) (until time.Time, reply string, down bool, err error)
	// SetDown backs domain off until until; a later back-off already set
	// is kept (two attempts failing at once must not shorten each
	// other's wait).
	SetDown(ctx context.Context, domain string, until time.Time, reply string, now time.Time) error
	// ClearDown forgets domain's back-off (an attempt reached it, or an
	// operator flushed it); "" forgets every one.
	ClearDown(ctx context.Context, domain string) error
	// CountDown is the number of domains backed off at now.
	CountDown(ctx context.Context, now time.Time) (int, error)
}

// downUnavailable is how long a domain is taken for down when the shared
// down list cannot be read: rather than attempt a destination another
// node may have found down, the group waits (and its deferral commit,
// on the same database, most likely fails and pauses the queue).
const downUnavailable = 30 * time.Second

// destinations is the queue's view of its DownList, the errors handled.
type destinations struct {
	list DownList
	q    *Queue
}

type destDown struct {
	until time.Time
	reply string // the error that took it down, for LastReply of skipped recipients
}

// down reports whether domain is backed off at now, until when, and why.
// A list that cannot be read reports it down for downUnavailable.
func (d destinations) down(ctx context.Context, domain string, now time.Time) (destDown, bool) {
	until, reply, down, err := d.list.Down(ctx, domain, now)
	if err != nil {
		if ctx.Err() != nil {
			return destDown{}, false // abandoned: the attempt is not made either
		}
		d.q.log.Warn("shared destination back-offs unavailable; deferring", "domain", domain, "err", err)
		return destDown{until: now.Add(downUnavailable), reply: "the shared destination state could not be read: " + err.Error()}, true
	}
	return destDown{until: until, reply: reply}, down
}

// shared reports whether the list is every node's (not this process's
// memory).
func (d destinations) shared() bool {
	_, memory := d.list.(*memoryDownList)
	return !memory
}

// set backs domain off until until.
func (d destinations) set(ctx context.Context, domain string, until time.Time, reply string, now time.Time) {
	if err := d.list.SetDown(ctx, domain, until, reply, now); err != nil {
		d.q.log.Warn("recording a destination down", "domain", domain, "err", err)
	}
}

// clear forgets domain's back-off; "" forgets all.
func (d destinations) clear(ctx context.Context, domain string) {
	if err := d.list.ClearDown(ctx, domain); err != nil {
		d.q.log.Warn("clearing a destination's back-off", "domain", domain, "err", err)
	}
}

// count is the number of domains backed off at now; 0 when unknown.
func (d destinations) count(now time.Time) int {
	ctx, cancel := context.WithTimeout(context.Background(), shapingTimeout)
	defer cancel()
	n, _ := d.list.CountDown(ctx, now)
	return n
}

// memoryDownList is the DownList of one process, in memory only (the
// default). It is lost on restart on purpose: the start-up spread already
// softens the first attempts, and a stale memory would only delay mail.
type memoryDownList struct {
	mu    sync.Mutex
	until map[string]destDown
}

func newMemoryDownList() *memoryDownList { return &memoryDownList{until: map[string]destDown{}} }

// Down implements DownList.
func (d *memoryDownList) Down(_ context.Context, domain string, now time.Time) (time.Time, string, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	dd, ok := d.until[domain]
	if !ok {
		return time.Time{}, "", false, nil
	}
	if !now.Before(dd.until) {
		delete(d.until, domain)
		return time.Time{}, "", false, nil
	}
	return dd.until, dd.reply, true, nil
}

// SetDown implements DownList.
func (d *memoryDownList) SetDown(_ context.Context, domain string, until time.Time, reply string, now time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if cur, ok := d.until[domain]; ok && cur.until.After(until) {
		return nil
	}
	d.until[domain] = destDown{until: until, reply: reply}
	// Sweep expired entries here so the map stays bounded by the number of
	// domains currently down.
	for k, v := range d.until {
		if !now.Before(v.until) {
			delete(d.until, k)
		}
	}
	return nil
}

// ClearDown implements DownList.
func (d *memoryDownList) ClearDown(_ context.Context, domain string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if domain == "" {
		clear(d.until)
		return nil
	}
	delete(d.until, domain)
	return nil
}

// CountDown implements DownList.
func (d *memoryDownList) CountDown(_ context.Context, now time.Time) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, v := range d.until {
		if now.Before(v.until) {
			n++
		}
	}
	return n, nil
}

// destinationUp clears domain's back-off after an attempt that reached one
// of its hosts and had a recipient delivered: another node (or an earlier
// attempt) may have found it down, and it is up now.
func (q *Queue) destinationUp(ctx context.Context, domain string, res *delivery.Result) {
	if res.DestinationDown {
		return
	}
	for _, r := range res.Rcpts {
		if r.Status == delivery.Delivered {
			q.dest.clear(context.WithoutCancel(ctx), domain)
			return
		}
	}
}
