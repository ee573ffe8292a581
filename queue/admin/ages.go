package admin

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// The age table of `queue stats --ages`, as Postfix's qshape draws it:
// destination domains by the age of their unfinished recipients' messages,
// in buckets doubling from 5 minutes.

// ageBuckets are the upper bounds of the age buckets, in minutes; a last
// bucket holds everything older than the last bound.
var ageBuckets = [...]int{5, 10, 20, 40, 80, 160, 320, 640, 1280}

// Ages is the age table: one row per destination domain, most recipients
// first, after the row of all domains.
type Ages struct {
	// Buckets labels the columns of Counts: the upper bound in minutes,
	// then "1280+".
	Buckets []string     `json:"buckets"`
	Total   DomainAges   `json:"total"`
	Domains []DomainAges `json:"domains"`
}

// DomainAges counts a domain's unfinished (queued, deferred, held)
// recipients per age bucket of their message.
type DomainAges struct {
	Domain string `json:"domain,omitempty"`
	Total  int    `json:"total"`
	Counts []int  `json:"counts"` // one per Ages.Buckets
}

// ageBucket is the column of a message received age ago.
func ageBucket(age time.Duration) int {
	for i, m := range ageBuckets {
		if age < time.Duration(m)*time.Minute {
			return i
		}
	}
	return len(ageBuckets)
}

// ageTally counts unfinished recipients by domain and age bucket.
type ageTally struct {
	now   time.Time
	total DomainAges
	rows  map[string]*DomainAges
}

func newAgeTally(now time.Time) *ageTally {
	return &ageTally{now: now, total: DomainAges{Counts: make([]int, len(ageBuckets)+1)}, rows: map[string]*DomainAges{}}
}

// add counts the unfinished recipients of msgs.
func (t *ageTally) add(msgs []*store.Message) {
	for _, m := range msgs {
		b := ageBucket(t.now.Sub(m.Received))
		for _, r := range m.Recipients {
			if r.State.Final() {
				continue
			}
			d := store.Domain(r.Addr)
			row := t.rows[d]
			if row == nil {
				row = &DomainAges{Domain: d, Counts: make([]int, len(ageBuckets)+1)}
				t.rows[d] = row
			}
			row.Counts[b]++
			row.Total++
			t.total.Counts[b]++
			t.total.Total++
		}
	}
}

// table is the tally as the API shows it, domains most recipients first.
func (t *ageTally) table() Ages {
	a := Ages{Total: t.total, Domains: make([]DomainAges, 0, len(t.rows))}
	for _, m := range ageBuckets {
		a.Buckets = append(a.Buckets, strconv.Itoa(m))
	}
	a.Buckets = append(a.Buckets, strconv.Itoa(ageBuckets[len(ageBuckets)-1])+"+")
	for _, row := range t.rows {
		a.Domains = append(a.Domains, *row)
	}
	slices.SortFunc(a.Domains, func(x, y DomainAges) int {
		if x.Total != y.Total {
			return y.Total - x.Total
		}
		return strings.Compare(x.Domain, y.Domain)
	})
	return a
}

// ages tallies the unfinished messages a store page at a time.
func (s *Server) ages(ctx context.Context, now time.Time) (Ages, error) {
	t := newAgeTally(now)
	f := store.Filter{Limit: store.MaxListLimit}
	for {
		page, err := s.opts.Queue.List(ctx, f)
		if err != nil {
			return Ages{}, err
		}
		if len(page) == 0 {
			return t.table(), nil
		}
		t.add(page)
		f.After = page[len(page)-1].ID
	}
}
