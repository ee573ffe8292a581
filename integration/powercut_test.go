package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery/smtptest"
	"github.com/outbox-mta/outbox/integration/powercut"
)

// Power-cut scenario knobs: the number of cuts (30 in CI; 500 for a release
// run) and the seed of the cuts' choices (logged, so a run can be repeated
// as far as load timing allows).
const (
	envPowerCuts = "OUTBOX_POWERCUT_CUTS"
	envPowerSeed = "OUTBOX_POWERCUT_SEED"
)

// TestPowerCut runs Outbox's spool on a power-cut file system under
// submission load (smtp-source and tagging Go clients, small messages and
// bodies past the inline limit, which go to files) with deliveries running,
// and cuts the power again and again: at random instants, right after a
// 250, inside a commit of spool.db, inside a body file's write or sync, and
// in the commit that follows a remote 250 (an outcome). Each cut kills the
// daemon with SIGKILL first, then drops what was not durable (all of it,
// a random part, or all but a torn page), checks the spool on the "disk"
// (every record and body reads back; every message whose 250 a client saw
// is there) and restarts Outbox on it. At the end it drains and counts: every
// message that got a 250 is delivered, every spooled message is delivered,
// none twice in one power epoch (a duplicate needs a cut between the
// remote 250 and our commit), and duplicates stay within what was in
// flight at the cuts.
func TestPowerCut(t *testing.T) {
	smtpSource := needSMTPSource(t)
	cuts := envInt(t, envPowerCuts, 30)
	seed := uint64(envInt(t, envPowerSeed, int(time.Now().UnixNano()%1e9)))
	t.Logf("%d cuts, seed %d (%s=%d to repeat)", cuts, seed, envPowerSeed, seed)
	const (
		workers = 32
		perDest = 8
	)
	r := newPowerRun(t, seed)
	w := newMXWorld(t,
		"example.net. MX 10 mx.example.net.",
		"mx.example.net. A 127.0.0.2",
	)
	mx := w.mx(t, "127.0.0.2", smtptest.Options{Data: r.received})
	dir := t.TempDir()
	// The spool is the power-cut file system's root, reached through a
	// link so the daemon's configuration and logs stay off it.
	if err := os.Symlink(r.mnt, filepath.Join(dir, "spool")); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	r.mount()
	r.d = startDaemon(t, dir, w.config(t, dir, addr,
		fmt.Sprintf("max_connections = %d\nmax_per_destination = %d", workers, perDest)), addr)

	ctx, stopLoad := context.WithCancel(context.Background())
	var load sync.WaitGroup
	defer func() { stopLoad(); load.Wait() }()
	srcRuns := powerSourceLoad(ctx, &load, smtpSource, addr)
	r.ac = powerTaggedLoad(ctx, &load, addr, r.acked)
	ac := r.ac

	start := time.Now()
	for i := range cuts {
		r.cut(i)
	}
	cutting := time.Since(start)
	stopLoad()
	load.Wait()
	r.d.waitQueueEmpty(120 * time.Second)
	lost, dups := r.count(mx.Messages(), ac, perDest)
	summary(t, "cuts=%d in %v (%s) acknowledged=%d (tagged; %d sent) delivered=%d/%d (tagged/all spooled, %d from smtp-source in %d runs) lost=%d duplicated=%d modes=%v salvaged=%d",
		cuts, cutting.Round(time.Second), r.phaseCounts(), len(ac.acked), ac.sent.Load(),
		countAcked(ac.acked, r.byTag), r.spooled, r.fromSource, srcRuns.Load(), lost, dups, r.modes, r.salvaged)
	if ids := ac.ackedIDs(); len(ids) != len(ac.acked) {
		t.Errorf("%d of %d 250s named no queue ID: the check after each cut missed them", len(ac.acked)-len(ids), len(ac.acked))
	}
	if len(ac.acked) == 0 || r.fromSource == 0 || r.bigAcked(ac) == 0 {
		t.Errorf("load did not get through: %d tagged acknowledged (%d with a body file), %d smtp-source messages spooled",
			len(ac.acked), r.bigAcked(ac), r.fromSource)
	}
}

// TestPowerCutSpoolNames: on a fresh disk, the daemon creates its spool
// (spool.db, bodies/), acknowledges two messages (one inline, one in a
// body file) and loses power; both must be on the disk. It fails if
// store.Open does not fsync the spool directory and its parent: spool.db,
// bodies or the spool itself would vanish with every acknowledged message.
// (The daemon, not this process, opens the spool: bbolt maps spool.db, and
// a page fault on a FUSE file served by the faulting process can deadlock
// it.)
func TestPowerCutSpoolNames(t *testing.T) {
	r := newPowerRun(t, 1)
	w := newMXWorld(t) // no MX: the messages stay queued
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	r.mount()
	// The daemon works in the file system's root and creates its spool
	// there (the configuration it reads goes with the cut: no restart).
	r.d = startDaemon(t, r.mnt, w.config(t, r.mnt, addr, ""), addr)
	ac := &ackClient{addr: addr, acked: map[int64]bool{}, pad: func(tag int64) int { return int(tag-1) * 200 << 10 }}
	for tag := range int64(2) {
		if !ac.submitTagged(tag + 1) {
			t.Fatalf("message %d not acknowledged\n%s", tag+1, r.d.log)
		}
	}
	r.d.kill9()
	if _, err := r.fs.Cut(powercut.DropAll); err != nil {
		t.Fatal(err)
	}
	r.fs = nil
	ids, err := readSpool(t, filepath.Join(r.backing, "spool"))
	if err != nil {
		t.Fatal(err)
	}
	acked := ac.ackedIDs()
	for tag, id := range acked {
		if !ids[id] {
			t.Errorf("message %s (tag %d, %d filler bytes) got a 250 and is not on the disk after the cut", id, tag, ac.pad(tag))
		}
	}
	if len(acked) != 2 {
		t.Errorf("%d queue IDs from 2 acknowledgements", len(acked))
	}
}

// powerSourceLoad runs smtp-source batches until ctx ends, relaunching one
// a cut ended, alternately of small messages and of bodies past the inline
// limit; it returns the count of batches run.
func powerSourceLoad(ctx context.Context, load *sync.WaitGroup, smtpSource, addr string) *atomic.Int64 {
	var runs atomic.Int64
	load.Go(func() {
		for ctx.Err() == nil {
			size := "2048"
			if runs.Load()%2 == 1 {
				size = "140000"
			}
			exec.CommandContext(ctx, smtpSource, "-s", "2", "-m", "10", "-l", size,
				"-f", "source@example.com", "-t", "source@example.net", "-M", "client.test", addr).Run()
			runs.Add(1)
			waitListening(ctx, addr)
		}
	})
	return &runs
}

// powerTaggedLoad runs three tagging clients until ctx ends; every third
// tag carries a 150 KiB body (a body file).
func powerTaggedLoad(ctx context.Context, load *sync.WaitGroup, addr string, onAck func(int64)) *ackClient {
	ac := &ackClient{addr: addr, acked: map[int64]bool{}, onAck: onAck,
		pad: func(tag int64) int {
			if tag%3 == 0 {
				return 150 << 10
			}
			return 0
		}}
	var nextTag atomic.Int64
	for range 3 {
		load.Go(func() {
			for ctx.Err() == nil {
				if !ac.submitTagged(nextTag.Add(1)) {
					waitListening(ctx, addr)
				}
			}
		})
	}
	return ac
}

// envInt reads a positive integer from the environment, def when unset.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// powerRun is the state of a power-cut scenario: the file system of the
// current power epoch, the daemon, the phases' triggers and what the MX
// received in which epoch.
type powerRun struct {
	t       *testing.T
	rng     *rand.Rand
	seed    uint64
	backing string // the disk
	mnt     string
	fs      *powercut.FS
	d       *daemon
	ac      *ackClient
	phases  map[string]int
	modes   map[string]int
	// salvaged counts the cuts whose torn page damaged the spool.
	salvaged int

	epoch   atomic.Int64                  // even: the power is on; odd: a cut in progress
	ack     atomic.Pointer[chan struct{}] // closed by the next 250, when set
	outcome atomic.Pointer[chan struct{}] // closed by the next remote 250, when set

	mu         sync.Mutex
	deliveries map[string][]int64 // queue ID → epoch of each delivery
	// Filled by count.
	byTag      map[int64]int
	spooled    int
	fromSource int
}

func newPowerRun(t *testing.T, seed uint64) *powerRun {
	r := &powerRun{
		t:          t,
		seed:       seed,
		rng:        rand.New(rand.NewPCG(seed, 0)),
		backing:    filepath.Join(t.TempDir(), "disk"),
		mnt:        filepath.Join(t.TempDir(), "mnt"),
		phases:     map[string]int{},
		modes:      map[string]int{},
		deliveries: map[string][]int64{},
	}
	for _, p := range []string{r.backing, r.mnt} {
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if r.fs != nil {
			r.fs.Unmount()
		}
	})
	return r
}

// mount starts a power epoch: a fresh file system over the disk (the
// kernel's pages of the last one went with its unmount).
func (r *powerRun) mount() {
	r.t.Helper()
	pfs, err := powercut.Mount(r.mnt, r.backing, powercut.Options{Seed: r.seed + uint64(r.epoch.Load())})
	if err != nil {
		if os.Getenv("CI") != "" {
			r.t.Fatalf("FUSE is required in CI (/dev/fuse, root or fusermount3): %v", err)
		}
		r.t.Skipf("cannot mount FUSE: %v", err)
	}
	r.fs = pfs
}

// received is the MX's Data hook: it notes the epoch of each delivery and
// fires an armed outcome trigger (the 250 goes out after it returns).
func (r *powerRun) received(m *smtptest.Message) error {
	if id := queueIDRE.FindSubmatch(m.Data); id != nil {
		r.mu.Lock()
		r.deliveries[string(id[1])] = append(r.deliveries[string(id[1])], r.epoch.Load())
		r.mu.Unlock()
	}
	if ch := r.outcome.Swap(nil); ch != nil {
		close(*ch)
	}
	return nil
}

// acked is the tagging clients' hook after a 250.
func (r *powerRun) acked(int64) {
	if ch := r.ack.Swap(nil); ch != nil {
		close(*ch)
	}
}

// A phase is where in Outbox's work a cut lands. wait returns once it is
// time to cut; false if the moment did not come within the deadline.
type phase struct {
	name string
	wait func(r *powerRun, deadline <-chan time.Time) bool
}

var powerPhases = []phase{
	{"random", func(r *powerRun, _ <-chan time.Time) bool {
		// A random instant of load: this wait is the scenario.
		time.Sleep(100*time.Millisecond + rand.N(time.Second))
		return true
	}},
	{"after-250", func(r *powerRun, deadline <-chan time.Time) bool {
		ch := make(chan struct{})
		r.ack.Store(&ch)
		return waitChan(ch, deadline)
	}},
	{"commit", func(r *powerRun, deadline <-chan time.Time) bool {
		return r.armAt(1+r.rng.IntN(60), isSpoolDB, deadline)
	}},
	{"body-file", func(r *powerRun, deadline <-chan time.Time) bool {
		return r.armAt(1+r.rng.IntN(40), isBodyFile, deadline)
	}},
	{"outcome", func(r *powerRun, deadline <-chan time.Time) bool {
		ch := make(chan struct{})
		r.outcome.Store(&ch)
		if !waitChan(ch, deadline) {
			return false
		}
		// The next change of spool.db: the commit recording the delivery
		// (with whatever submissions share its batch).
		return r.armAt(1+r.rng.IntN(3), isSpoolDB, deadline)
	}},
}

func isSpoolDB(ev powercut.Event) bool { return ev.Path == "spool.db" }

func isBodyFile(ev powercut.Event) bool {
	return strings.HasPrefix(ev.Path, "bodies/") || (ev.Op == powercut.OpFsyncDir && ev.Path == "bodies")
}

// armAt freezes the file system at the nth change match accepts and waits
// for it.
func (r *powerRun) armAt(n int, match func(powercut.Event) bool, deadline <-chan time.Time) bool {
	seen := 0
	fired := r.fs.Arm(func(ev powercut.Event) bool {
		if match(ev) {
			seen++
		}
		return seen >= n
	})
	select {
	case <-fired:
		return true
	case <-deadline:
		r.fs.Disarm()
		return false
	}
}

func waitChan(ch <-chan struct{}, deadline <-chan time.Time) bool {
	select {
	case <-ch:
		return true
	case <-deadline:
		return false
	}
}

// cut is one power cut: wait for the phase's moment, kill the daemon (it
// must not write after the cut), drop what was not durable, check the
// spool on the disk, and restart Outbox on it.
func (r *powerRun) cut(i int) {
	r.t.Helper()
	p := powerPhases[i%len(powerPhases)]
	mode := powercut.Mode(i % 3)
	name := p.name
	if !p.wait(r, time.After(20*time.Second)) {
		name += " (timed out: random)"
	}
	r.ack.Store(nil)
	r.outcome.Store(nil)
	// Odd epochs are cuts in progress: a delivery the MX finishes while the
	// daemon dies (its dot sent, its 250 never read) is labelled with one,
	// so its redelivery after the restart, in the next even epoch, is not
	// mistaken for a duplicate without a cut.
	r.epoch.Add(1)
	r.d.kill9()
	// Every 250 a client has seen was sent before the kill: those
	// messages must be on the disk whatever the cut drops.
	acked := r.ac.ackedIDs()
	rep, err := r.fs.Cut(mode)
	if err != nil {
		r.t.Fatalf("cut %d: %v", i, err)
	}
	r.phases[name]++
	r.modes[mode.String()]++
	r.t.Logf("cut %d at %s: %v", i, name, rep)
	if code, out := runOutbox(r.t, r.d.dir, "spool", "check", "--spool", r.backing); code != 0 {
		if code != 1 || mode != powercut.TearPage {
			r.t.Fatalf("cut %d (%s, %v): outbox spool check: exit %d\n%s\n%s", i, name, rep, code, out, r.d.log)
		}
		r.salvage(i, acked, out)
	}
	ids, err := readSpool(r.t, r.backing)
	if err != nil {
		r.t.Fatalf("cut %d (%s, %v): reading the spool on the disk: %v\n%s", i, name, rep, err, r.d.log)
	}
	for tag, id := range acked {
		if !ids[id] {
			r.t.Errorf("cut %d (%s, %v): message %s (tag %d) got a 250 before the cut and is not on the disk", i, name, rep, id, tag)
		}
	}
	r.mount()
	r.epoch.Add(1)
	r.d.start()
}

func (r *powerRun) phaseCounts() string {
	var parts []string
	for _, p := range powerPhases {
		parts = append(parts, fmt.Sprintf("%s=%d", p.name, r.phases[p.name]))
	}
	for name, n := range r.phases {
		if strings.Contains(name, "timed out") {
			parts = append(parts, fmt.Sprintf("%s=%d", name, n))
		}
	}
	return strings.Join(parts, " ")
}

// bigAcked is the number of acknowledged tags whose body went to a file.
func (r *powerRun) bigAcked(ac *ackClient) int {
	n := 0
	for tag := range ac.acked {
		if ac.pad(tag) > 0 {
			n++
		}
	}
	return n
}

// count checks the end state against the durability contract and returns
// the number of lost messages and of duplicate deliveries.
func (r *powerRun) count(delivered []smtptest.Message, ac *ackClient, perDest int) (lost, dups int) {
	t := r.t
	t.Helper()
	r.byTag = map[int64]int{}
	idsOfTag := map[int64]map[string]bool{}
	byID := map[string]int{}
	for _, m := range delivered {
		id := queueIDRE.FindSubmatch(m.Data)
		if id == nil {
			t.Errorf("delivered message without Outbox's Received id:\n%.400s", m.Data)
			continue
		}
		byID[string(id[1])]++
		if tag := tagRE.FindSubmatch(m.Data); tag != nil {
			k, _ := strconv.ParseInt(string(tag[1]), 10, 64)
			r.byTag[k]++
			if idsOfTag[k] == nil {
				idsOfTag[k] = map[string]bool{}
			}
			idsOfTag[k][string(id[1])] = true
		}
	}
	for tag := range ac.acked {
		if r.byTag[tag] == 0 {
			lost++
			t.Errorf("tagged message %d got a 250 but was never delivered", tag)
		}
	}
	// One submission is one message, whether or not it got its 250.
	for tag, ids := range idsOfTag {
		if len(ids) > 1 {
			t.Errorf("tagged message %d was spooled %d times: %v", tag, len(ids), ids)
		}
	}
	for _, m := range r.d.queueJSONArgs("--done") {
		r.spooled++
		if m["from"] == "source@example.com" {
			r.fromSource++
		}
		id := m["id"].(string)
		for addr, state := range recipients(m) {
			if state != "delivered" {
				t.Errorf("message %s to %s ended %s", id, addr, state)
			}
		}
		if byID[id] == 0 {
			lost++
			t.Errorf("spooled message %s (from %v) never reached the MX", id, m["from"])
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, epochs := range r.deliveries {
		dups += len(epochs) - 1
		// A second delivery needs the first one's outcome lost: a cut
		// between them.
		for i := 1; i < len(epochs); i++ {
			if epochs[i] == epochs[i-1] && epochs[i]%2 == 0 {
				t.Errorf("message %s delivered twice in power epoch %d (no cut in between)", id, epochs[i])
			}
		}
	}
	if cuts := int(r.epoch.Load() / 2); dups > cuts*perDest {
		t.Errorf("%d duplicate deliveries after %d cuts, want at most %d (the in-flight ones)", dups, cuts, cuts*perDest)
	}
	return lost, dups
}
