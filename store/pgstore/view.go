package pgstore

import (
	"context"
	"strings"
	"sync"
	"time"
)

// This node's view of the shared state nearly every delivery reads and
// nearly never finds: the destinations found down (destinations_down)
// and which budgets carry a record (shaping_budgets rows whose state is
// not empty: a budget with no configured limit has one only once a reply
// slowed or suspended it). Reading them from the database cost a
// statement each per message; the view answers from memory instead.
//
// It is loaded once this node listens on viewChannel, and kept fresh by
// the notifications every write to it sends in its own transaction
// (pg_notify is delivered on COMMIT, never for a rollback): "d:DOMAIN"
// for a back-off set or cleared, "b:KEY" for a budget that got or lost
// its record. Each notification makes the view read that row again, in
// one goroutine with the full loads, so the last read of a row always
// follows its last change. A change thus reaches the other nodes'
// views within a notification's latency (milliseconds); until then a
// node may start a message to a destination another node just found
// down or slowed, as it could have a round trip earlier anyway.
//
// The view is trusted only while its listening connection is: once that
// connection fails the view is unknown, and the callers read the
// database, until the connection listens again and a full load after it
// succeeds. A full load also runs every Lease/2, which bounds what a
// connection that failed without this node noticing could hide.

const viewChannel = "outbox_shared"

// viewRetry is how soon a failed load is tried again.
const viewRetry = time.Second

type sharedView struct {
	db *DB

	mu        sync.Mutex
	ready     bool   // loaded since the connection last started listening
	listening bool   // the connection listens
	epoch     uint64 // counts the connection's starts and failures
	down      map[string]downEntry
	stateful  map[string]bool   // budget keys with a record
	pending   map[string]uint64 // notified payloads to read again, with their gen
	gen       uint64
	kick      chan struct{} // capacity 1: pending or a load to do
	full      bool          // a full load is due
}

// downEntry is a back-off as the view holds it: until in this process's
// clock (monotonic), computed from what remained of it in the database's.
type downEntry struct {
	until time.Time
	reply string
}

// view returns db's shared view, started at the first call.
func (db *DB) view() *sharedView {
	db.viewOnce.Do(func() {
		v := &sharedView{db: db, down: map[string]downEntry{}, stateful: map[string]bool{},
			pending: map[string]uint64{}, kick: make(chan struct{}, 1)}
		db.shared = v
		db.bg.Add(1)
		go v.run()
	})
	return db.shared
}

// run keeps the view, until Close.
func (v *sharedView) run() {
	defer v.db.bg.Done()
	ctx, cancel := v.db.untilClose()
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		v.db.listenConn(ctx, viewChannel, true, v.lost, v.note)
	}()
	defer wg.Wait()
	tick := time.NewTicker(v.db.opts.Lease / 2)
	defer tick.Stop()
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-v.kick:
		case <-tick.C:
			v.mu.Lock()
			v.full = true
			v.mu.Unlock()
		case <-retry:
		}
		retry = nil
		if err := v.refresh(ctx); err != nil && ctx.Err() == nil {
			v.db.log.Debug("loading the shared destination state", "err", err)
			retry = time.After(viewRetry)
		}
	}
}

// note is the listening connection's callback: "" when it starts
// listening (a full load is due), else a payload to read again.
func (v *sharedView) note(payload string) {
	v.mu.Lock()
	if payload == "" {
		v.listening = true
		v.epoch++
		v.ready = false
		v.full = true
	} else {
		v.gen++
		v.pending[payload] = v.gen
	}
	v.mu.Unlock()
	v.signal()
}

// lost is called when the listening connection fails: notifications may
// be missed from now on, so the view is no longer trusted.
func (v *sharedView) lost() {
	v.mu.Lock()
	v.listening = false
	v.epoch++
	v.ready = false
	v.mu.Unlock()
}

func (v *sharedView) signal() {
	select {
	case v.kick <- struct{}{}:
	default:
	}
}

// refresh runs the due full load, or reads the notified rows again.
func (v *sharedView) refresh(ctx context.Context) error {
	v.mu.Lock()
	full, epoch, listening := v.full || !v.ready, v.epoch, v.listening
	pending := make(map[string]uint64, len(v.pending))
	for p, g := range v.pending {
		pending[p] = g
	}
	v.mu.Unlock()
	if !listening {
		return nil // the connection's next start asks for the load
	}
	if full {
		if err := v.load(ctx, epoch); err != nil {
			return err
		}
	}
	for p, gen := range pending {
		if err := v.reread(ctx, epoch, p, gen); err != nil {
			v.mu.Lock()
			v.ready, v.full = false, true
			v.mu.Unlock()
			return err
		}
	}
	return nil
}

// load reads the whole view; it is installed, and trusted, only if the
// connection listened throughout.
func (v *sharedView) load(ctx context.Context, epoch uint64) error {
	down := map[string]downEntry{}
	stateful := map[string]bool{}
	rows, err := v.db.pool.Query(ctx, `SELECT domain, (extract(epoch FROM until - clock_timestamp()) * 1e6)::bigint, reply
		FROM destinations_down WHERE until > clock_timestamp()`)
	if err != nil {
		return classify(err)
	}
	for rows.Next() {
		var domain, reply string
		var left int64
		if err := rows.Scan(&domain, &left, &reply); err != nil {
			rows.Close()
			return classify(err)
		}
		down[domain] = downEntry{until: time.Now().Add(time.Duration(left) * time.Microsecond), reply: reply}
	}
	if err := rows.Err(); err != nil {
		return classify(err)
	}
	rows, err = v.db.pool.Query(ctx, `SELECT key FROM shaping_budgets WHERE state <> ''`)
	if err != nil {
		return classify(err)
	}
	for rows.Next() {
		var key string
		if err := rows.Scan(&key); err != nil {
			rows.Close()
			return classify(err)
		}
		stateful[key] = true
	}
	if err := rows.Err(); err != nil {
		return classify(err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.epoch == epoch && v.listening {
		v.down, v.stateful, v.ready, v.full = down, stateful, true, false
	}
	return nil
}

// reread reads the row a notification names again.
// A row stays unknown (pending) until its last notification is read.
func (v *sharedView) reread(ctx context.Context, epoch uint64, payload string, gen uint64) error {
	kind, key, _ := strings.Cut(payload, ":")
	defer func() {
		v.mu.Lock()
		if v.pending[payload] == gen {
			delete(v.pending, payload)
		}
		v.mu.Unlock()
	}()
	switch kind {
	case "d":
		until, reply, down, err := v.db.Backoffs().read(ctx, key)
		if err != nil {
			return err
		}
		v.mu.Lock()
		if v.epoch == epoch && v.pending[payload] == gen {
			if down {
				v.down[key] = downEntry{until: until, reply: reply}
			} else {
				delete(v.down, key)
			}
		}
		v.mu.Unlock()
	case "b":
		var has bool
		err := v.db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM shaping_budgets WHERE key = $1 AND state <> '')`, key).Scan(&has)
		if err != nil {
			return classify(err)
		}
		v.setStateful(epoch, key, has, gen)
	}
	return nil
}

func (v *sharedView) setStateful(epoch uint64, key string, has bool, gen uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.epoch != epoch || v.pending["b:"+key] != gen {
		return
	}
	if has {
		v.stateful[key] = true
	} else {
		delete(v.stateful, key)
	}
}

// lookupDown returns domain's back-off in the view; known is false when
// the view is not trusted (ask the database).
func (v *sharedView) lookupDown(domain string) (e downEntry, down, known bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, dirty := v.pending["d:"+domain]; !v.ready || dirty {
		return downEntry{}, false, false
	}
	e, down = v.down[domain]
	return e, down, true
}

// countDown returns the back-offs running at now (this process's
// clock); known as lookupDown.
func (v *sharedView) countDown() (n int, known bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.ready || len(v.pending) > 0 {
		return 0, false
	}
	now := time.Now()
	for _, e := range v.down {
		if e.until.After(now) {
			n++
		}
	}
	return n, true
}

// recordless reports whether the view knows budget key has no record.
func (v *sharedView) recordless(key string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, dirty := v.pending["b:"+key]
	return v.ready && !dirty && !v.stateful[key]
}
