package pgstore

import (
	"context"
	"sync"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// Leases: how several nodes share one queue.
//
// Claim takes due messages for this node with SELECT ... FOR UPDATE SKIP
// LOCKED (two nodes claiming at once take different rows, neither waits)
// and gives each a lease: the node's name, an expiry, and a fencing token
// from the lease_tokens sequence. Other nodes' Due and Claim leave a
// message out while another node's lease on it runs, and their NextDue
// counts the lease's end: a dead node's messages fall due again for the
// others when its leases end. The lease owner's own Due does not leave
// them out (its queue skips what it has in flight), so a claim whose
// attempt ended without an outcome is simply due again there. Nodes'
// clocks must agree to well within a lease (NTP).
// While a delivery runs, renewLoop extends this node's leases every
// Lease/3. The outcome (Update) commits only if the row still carries the
// token this node was given (a fencing token): a node that paused past
// its lease (SIGSTOP, a long GC, a partition) and whose message another
// node claimed since gets ErrLeaseLost, and its stale outcome is dropped.
// Duplicates are only those of the at-least-once contract: a node that
// dies or pauses past a remote 250 and before its commit.

// maxClaim bounds how long renewLoop keeps a claim alive: longer than any
// delivery (every host's timeouts added up), so only a claim whose
// attempt ended without recording an outcome (none to record) reaches
// it. Past it the lease is left to expire, and a later outcome of this
// node is still fenced.
const maxClaim = time.Hour

// leases are the claims this node holds.
type leases struct {
	mu   sync.Mutex
	ids  map[string]claim
	list listState // listcache.go
}

// claim is one lease this node holds.
type claim struct {
	token int64
	at    time.Time   // when it was claimed
	pre   *prefetched // what Claim read for the delivery (prefetch.go)
	// clear are its recipients, counted in list.clear at generation
	// clearGen when its Claim saw the suppression list empty
	// (listcache.go).
	clear    []string
	clearGen uint64
	// quiet: its Claim saw no suppression entry and no strike count, at
	// generation quietGen (outcome.go).
	quiet    bool
	quietGen uint64
}

// lostToken marks a lease renew found lost: no row carries it.
const lostToken = -1

func newLeases() *leases { return &leases{ids: map[string]claim{}} }

func (l *leases) token(id string) (int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.ids[id]
	return c.token, ok
}

// hold records a claim, with what its Claim read (pre) and saw of the
// suppression list (s, empty).
func (l *leases) hold(id string, token int64, at time.Time, pre *prefetched, s sighting, empty, noStrikes bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if old, ok := l.ids[id]; ok {
		l.unclear(old)
	}
	c := claim{token: token, at: at, pre: pre}
	l.observe(s, empty)
	if empty && s.gen == l.list.gen && pre.msg != nil {
		c.clear, c.clearGen = clearAddrs(pre.msg), s.gen
		l.addClear(c.clear)
		c.quiet, c.quietGen = noStrikes, s.gen
	}
	l.ids[id] = c
}

// unclear takes c's recipients out of list.clear (l.mu held).
func (l *leases) unclear(c claim) {
	if c.clear != nil && c.clearGen == l.list.gen {
		l.dropClear(c.clear)
	}
}

// lose marks id's lease lost: its outcome will be refused.
func (l *leases) lose(id string) {
	l.mu.Lock()
	if c, ok := l.ids[id]; ok {
		l.unclear(c)
		c.token, c.pre, c.clear = lostToken, nil, nil
		l.ids[id] = c
	}
	l.mu.Unlock()
}

func (l *leases) release(id string) {
	l.mu.Lock()
	if c, ok := l.ids[id]; ok {
		l.unclear(c)
	}
	delete(l.ids, id)
	l.mu.Unlock()
}

// renewable returns the claims to renew: live ones younger than maxClaim.
// It forgets claims older than twice that.
func (l *leases) renewable(now time.Time) (ids []string, tokens []int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, c := range l.ids {
		if now.Sub(c.at) > 2*maxClaim {
			l.unclear(c)
			delete(l.ids, id) // its attempt is long over: nothing will update it
			continue
		}
		if c.token != lostToken && now.Sub(c.at) < maxClaim {
			ids, tokens = append(ids, id), append(tokens, c.token)
		}
	}
	return ids, tokens
}

// Claim leases the due messages cand to this node (see above), and
// returns those it took in cand's order: the queue calls it for the work
// it picked from the due index (Due, DueLane) and starts. A message
// another node claimed between the look-up and the claim is left out.
// The same statement reads what the deliveries will (prefetch.go), and
// whether the suppression list is empty (listcache.go).
func (db *DB) Claim(ctx context.Context, now time.Time, cand []string) ([]string, error) {
	if len(cand) == 0 {
		return nil, nil
	}
	at, sight := db.now(), db.leases.sight()
	rows, err := db.pool.Query(ctx, `WITH c AS (
			SELECT id FROM messages WHERE id = ANY($1) AND due_ns <= $2 AND (lease_until_ns < $5 OR lease_owner = $3)
			FOR UPDATE SKIP LOCKED),
		u AS (UPDATE messages m SET lease_owner = $3, lease_until_ns = $4, lease_token = nextval('lease_tokens')
			FROM c WHERE m.id = c.id
			RETURNING m.id, m.lease_token, m.record)
		SELECT u.id, u.lease_token, u.record, b.prefix, CASE WHEN octet_length(b.body) <= $6 THEN b.body END,
			NOT EXISTS (SELECT 1 FROM suppressions), NOT EXISTS (SELECT 1 FROM suppress_strikes)
		FROM u LEFT JOIN bodies b ON b.id = u.id`,
		cand, dueNanos(now), db.opts.Node, nanos(at.Add(db.opts.Lease)), nanos(at), prefetchMax)
	if err != nil {
		return nil, classify(err)
	}
	got := map[string]bool{}
	for rows.Next() {
		var id string
		var token int64
		var empty, noStrikes bool
		var raw []byte
		pre := &prefetched{}
		if err := rows.Scan(&id, &token, &raw, &pre.prefix, &pre.body, &empty, &noStrikes); err != nil {
			rows.Close()
			return nil, classify(err)
		}
		pre.hasBody = pre.prefix != nil && pre.body != nil
		if m, err := store.DecodeMessage(raw); err == nil {
			m.ID, pre.msg, pre.raw = id, m, raw
		}
		db.leases.hold(id, token, db.now(), pre, sight, empty, noStrikes)
		got[id] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	ids := cand[:0]
	for _, id := range cand { // in due order
		if got[id] {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// renewLoop extends this node's leases every Lease/3 until Close.
func (db *DB) renewLoop() {
	defer db.bg.Done()
	t := time.NewTicker(db.opts.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-db.quit:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), db.opts.Lease/3)
			if err := db.renew(ctx); err != nil {
				db.log.Warn("renewing leases", "err", err)
			}
			cancel()
		}
	}
}

// renew extends the leases this node still holds. One whose token changed
// (another node claimed the message) or whose message is gone is marked
// lost: its outcome will fail with ErrLeaseLost.
func (db *DB) renew(ctx context.Context) error {
	ids, tokens := db.leases.renewable(db.now())
	if len(ids) == 0 {
		return nil
	}
	until := nanos(db.now().Add(db.opts.Lease))
	rows, err := db.pool.Query(ctx, `UPDATE messages m SET lease_until_ns = $3
		FROM unnest($1::text[], $2::bigint[]) AS h(id, token)
		WHERE m.id = h.id AND m.lease_token = h.token
		RETURNING m.id`, ids, tokens, until)
	if err != nil {
		return classify(err)
	}
	kept := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return classify(err)
		}
		kept[id] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return classify(err)
	}
	for _, id := range ids {
		if !kept[id] {
			db.log.Warn("lease lost", "msgid", id)
			db.leases.lose(id)
		}
	}
	return nil
}
