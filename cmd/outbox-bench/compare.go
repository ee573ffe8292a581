package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/outbox-mta/outbox/store/pgstore/pgtest"
)

// The systems compared, in the order each round runs them.
const (
	sysCeiling = "ceiling"
	sysPostfix = "postfix"
	sysRelay   = "outbox-relay"
	sysMX      = "outbox-mx"
	sysPG      = "outbox-pg"  // outbox-relay with its spool in PostgreSQL (one node)
	sysPG3     = "outbox-pg3" // three such nodes on one database, the load split among them
)

// result is one run's figures.
type result struct {
	accept, e2e float64 // messages/s
	p50, p99    time.Duration
	cpuMS       float64 // the system's processes, ms per message
	machMS      float64 // whole machine, ms per message
	rssKB       int64
	checked     string // what a full system's check found
	note        string // the system's own figures (outbox-pg: meterPG)
}

type compareOpts struct {
	n, c, size, runs, warmup int
	modes                    []int
	systems                  []string
	bin, dir                 string
	timeout                  time.Duration
	keep                     bool
	dkimKey                  string         // the key type of outbox-full-dkim: rsa or ed25519
	pg                       *pgtest.Server // started when systems has outbox-pg
	pgURL                    string         // the database of the current outbox-pg run
	nodeCPU                  float64        // CPUs per Outbox process (cgroup.go); 0: no cap
}

func runCompare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("outbox-bench compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := compareOpts{}
	fs.IntVar(&o.n, "n", 20000, "messages per run")
	fs.IntVar(&o.c, "c", 20, "concurrent smtp-source sessions")
	fs.IntVar(&o.size, "s", 4096, "message size in bytes")
	fs.IntVar(&o.runs, "runs", 5, "runs per system (medians are reported)")
	fs.IntVar(&o.warmup, "warmup", 200, "warm-up messages relayed before each timed run")
	modes := fs.String("m", "1,0", "messages per session, comma-separated: 1 = one per session, 0 = sessions never reconnect (smtp-source -d)")
	systems := fs.String("systems", defaultSystems(), "systems to run (outbox-pg: where PostgreSQL is installed; outbox-full-ed25519 on request)")
	fs.StringVar(&o.bin, "outbox", "", "outbox binary (default: go build ./cmd/outbox into the run directory)")
	fs.StringVar(&o.dir, "dir", "", "run directory (default: a new directory under $TMPDIR, removed afterwards)")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up on one run's relay phase after this long")
	fs.BoolVar(&o.keep, "keep", false, "keep the run directory (configs, logs)")
	fs.Float64Var(&o.nodeCPU, "node-cpu", 0, "cap every Outbox process at this many CPUs (a cgroup quota: one node = one small machine); 0: no cap")
	big := fs.Int("big", 25<<20, "size of the one large message relayed through Outbox at the end (0: skip)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, m := range strings.Split(*modes, ",") {
		var v int
		if _, err := fmt.Sscan(m, &v); err != nil || v < 0 || v > 1 {
			return fmt.Errorf("-m: want 1 or 0, got %q", m)
		}
		o.modes = append(o.modes, v)
	}
	o.systems = strings.Split(*systems, ",")
	for _, s := range o.systems {
		if !slices.Contains([]string{sysCeiling, sysPostfix, sysRelay, sysMX, sysFull, sysFullDKIM, sysFullEd25519, sysPG, sysPG3}, s) {
			return fmt.Errorf("-systems: unknown system %q", s)
		}
	}
	if o.n <= 0 || o.c <= 0 || o.runs <= 0 || o.size <= 0 {
		return errors.New("-n, -c, -s and -runs must be positive")
	}
	need := []string{"smtp-source", "smtp-sink"}
	if slices.Contains(o.systems, sysPostfix) {
		if os.Geteuid() != 0 {
			return errors.New("the postfix system needs root (Postfix's master runs as root); run as root or drop it with -systems")
		}
		need = append(need, "postfix")
	}
	for _, b := range need {
		if _, err := exec.LookPath(b); err != nil {
			return fmt.Errorf("%s not found (apt-get install postfix): %w", b, err)
		}
	}
	if o.dir == "" {
		d, err := os.MkdirTemp("", "outbox-bench-")
		if err != nil {
			return err
		}
		o.dir = d
		os.Chmod(d, 0o755) // Postfix's unprivileged services must traverse it
	}
	if !o.keep {
		defer os.RemoveAll(o.dir)
	}
	if err := o.buildOutbox(ctx, stderr); err != nil {
		return err
	}

	if slices.Contains(o.systems, sysPG) || slices.Contains(o.systems, sysPG3) {
		stop, err := startPostgres(&o)
		if err != nil {
			return err
		}
		defer stop()
	}
	fmt.Fprintf(stdout, "# outbox-bench compare: N=%d C=%d S=%d runs=%d warmup=%d, %d CPUs, medians\n",
		o.n, o.c, o.size, o.runs, o.warmup, cpus())
	if o.nodeCPU > 0 {
		fmt.Fprintf(stdout, "# every Outbox process capped at %.2f CPUs (cgroup quota): one node = one small machine; PostgreSQL, sink and load generator uncapped\n", o.nodeCPU)
	}
	for _, m := range o.modes {
		if err := runMode(ctx, &o, m, stdout, stderr); err != nil {
			return err
		}
	}
	if *big > 0 {
		return runBig(ctx, &o, *big, stdout)
	}
	return nil
}

func modeName(m int) string {
	if m == 1 {
		return "1/session"
	}
	return "many/session"
}

// runOne runs one system once, from a fresh sink and instance.
func runOne(ctx context.Context, o *compareOpts, sys string, l load, dir string) (result, error) {
	var r result
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return r, err
	}
	sinkPort, err := freePort()
	if err != nil {
		return r, err
	}
	sk, err := startSink(dir, sinkPort)
	if err != nil {
		return r, err
	}
	defer sk.stop()

	sut, err := startSystem(ctx, o, sys, dir, sk, sinkPort)
	defer sut.stop()
	if err != nil {
		return r, err
	}
	port, pid, tree, queued := sut.port, sut.pid, sut.tree, sut.queued
	base, err := warmUp(ctx, o, sys, l, port, sk)
	if err != nil {
		return r, err
	}

	rss := sampleRSS(pid, tree)
	b0 := machineCPU()
	p0 := treeCPU(pid, tree)
	var meter func(n int) string
	if sut.meter != nil {
		meter = sut.meter()
	}
	start := time.Now()
	pr := startProbe(port, l)
	srcErr := runSources(ctx, append([]int{port}, sut.ports[min(1, len(sut.ports)):]...), l)
	accepted := time.Now()
	probed, p50, p99, probeErr := pr.Stop()
	if srcErr != nil {
		rss.Stop()
		return r, srcErr
	}
	if probeErr != nil {
		rss.Stop()
		return r, fmt.Errorf("latency probe: %w", probeErr)
	}
	werr := sk.wait(ctx, base+l.n+probed, o.timeout)
	relayed := time.Now()
	if werr == nil && sut.settle != nil {
		werr = sut.settle(ctx, base+l.n+probed)
	}
	b1 := machineCPU()
	p1 := treeCPU(pid, tree)
	peak := rss.Stop()
	if werr != nil {
		if queued != nil {
			werr = fmt.Errorf("%w; postfix queue holds %d files", werr, queued())
		}
		return r, werr
	}
	if sys != sysPostfix && sys != sysCeiling {
		peak = max(peak, statusKB(pid, "VmHWM"))
	}
	n := float64(l.n)
	r = result{
		accept: n / accepted.Sub(start).Seconds(),
		e2e:    n / relayed.Sub(start).Seconds(),
		p50:    p50, p99: p99,
		cpuMS:  float64(p1-p0) * 1000 / clkTck / float64(l.n+probed),
		machMS: float64(b1-b0) * 1000 / clkTck / float64(l.n+probed),
		rssKB:  peak,
	}
	if sys == sysCeiling {
		r.e2e = r.accept
	}
	if meter != nil {
		r.note = meter(l.n + probed)
	}
	if extra := sk.count() - base - l.n - probed; extra != 0 {
		return r, fmt.Errorf("the sink counted %d messages more than were sent", extra)
	}
	if sut.check != nil {
		summary, err := sut.check(ctx)
		if err != nil {
			return r, fmt.Errorf("%s is not what it claims: %w", sys, err)
		}
		r.checked = summary
	}
	return r, nil
}

// systemUnderTest is one running system of the comparison: where the load
// goes, which processes are measured, and how to stop them.
type systemUnderTest struct {
	port   int
	ports  []int // every node's submission port, when there are several (the load is split)
	pid    int
	tree   bool                      // measure pid and all its descendants
	queued func() int                // Postfix: files in its queue, for a timeout's message
	meter  func() func(n int) string // starts the system's own figures (result.note)
	// settle, when set, waits after the sink counted delivered messages
	// for the work that follows them (webhooks), inside the CPU measure.
	settle func(ctx context.Context, delivered int) error
	// check, when set, asserts after the run that the system ran with
	// what it claims, and summarises what it found.
	check func(ctx context.Context) (string, error)
	stops []func()
}

// stop stops what startSystem started, the last started first.
func (s *systemUnderTest) stop() {
	for i := len(s.stops) - 1; i >= 0; i-- {
		s.stops[i]()
	}
}

// startSystem starts sys in front of the sink sk listening on sinkPort.
// The ceiling is the sink itself. On an error, stop still stops what was
// started.
func startSystem(ctx context.Context, o *compareOpts, sys, dir string, sk *sink, sinkPort int) (*systemUnderTest, error) {
	s := &systemUnderTest{port: sinkPort, pid: sk.cmd.Process.Pid}
	var err error
	switch sys {
	case sysPostfix:
		if s.port, err = freePort(); err != nil {
			return s, err
		}
		pf, err := startPostfix(dir, s.port, sinkPort)
		if err != nil {
			return s, err
		}
		s.stops = append(s.stops, pf.stop)
		s.pid, s.tree, s.queued = pf.masterPID(), true, pf.queued
	case sysPG:
		return startNodes(ctx, o, dir, s, sinkPort, 1)
	case sysPG3:
		return startNodes(ctx, o, dir, s, sinkPort, 3)
	case sysFull, sysFullDKIM, sysFullEd25519:
		return startFull(ctx, o, sys, dir, s, sinkPort)
	case sysRelay, sysMX:
		if s.port, err = freePort(); err != nil {
			return s, err
		}
		dnsPort := 0
		if sys == sysMX {
			mx, err := startMX()
			if err != nil {
				return s, err
			}
			s.stops = append(s.stops, mx.stop)
			dnsPort = mx.port
		}
		ob, err := startOutbox(ctx, o.bin, dir, outboxConfig(dir, s.port, sinkPort, dnsPort, ""), s.port)
		if err != nil {
			return s, err
		}
		if err := o.capNode(s, ob); err != nil {
			return s, err
		}
		s.stops = append(s.stops, ob.stop)
		s.pid = ob.pid()
	}
	return s, nil
}

// warmUp sends o.warmup messages one per session through the system on
// port and waits for the sink to count them, so the measured run starts
// warm. It returns the sink's count after it (the measured run's base).
func warmUp(ctx context.Context, o *compareOpts, sys string, l load, port int, sk *sink) (int, error) {
	if o.warmup <= 0 || sys == sysCeiling {
		return 0, nil
	}
	if err := runSource(ctx, port, load{n: o.warmup, c: min(o.c, o.warmup), size: l.size, perSession: 1}, o.warmup); err != nil {
		return 0, fmt.Errorf("warm-up: %w", err)
	}
	if err := sk.wait(ctx, o.warmup, o.timeout); err != nil {
		return 0, fmt.Errorf("warm-up: %w", err)
	}
	return sk.count(), nil
}

func (r result) format() string {
	return fmt.Sprintf("accept=%.0f/s e2e=%.0f/s p50=%s p99=%s cpu=%.3fms/msg mcpu=%.3fms/msg rss=%.1fMiB",
		r.accept, r.e2e, ms(r.p50), ms(r.p99), r.cpuMS, r.machMS, float64(r.rssKB)/1024) + notePrefix(r.note)
}

// notePrefix puts a run's own figures on a line of their own.
func notePrefix(note string) string {
	if note == "" {
		return ""
	}
	return "\n    " + note
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/1e6) }

// report prints one line per system: the medians and the ratios of the
// medians to Postfix and to the ceiling.
func report(w io.Writer, systems []string, res map[string][]result, mode string) {
	med := map[string]result{}
	for _, s := range systems {
		rs := res[s]
		med[s] = result{
			accept: median(rs, func(r result) float64 { return r.accept }),
			e2e:    median(rs, func(r result) float64 { return r.e2e }),
			p50:    time.Duration(median(rs, func(r result) float64 { return float64(r.p50) })),
			p99:    time.Duration(median(rs, func(r result) float64 { return float64(r.p99) })),
			cpuMS:  median(rs, func(r result) float64 { return r.cpuMS }),
			machMS: median(rs, func(r result) float64 { return r.machMS }),
			rssKB:  int64(median(rs, func(r result) float64 { return float64(r.rssKB) })),
		}
	}
	for _, s := range systems {
		m := med[s]
		line := fmt.Sprintf("%-19s %-12s %s", s, mode, m.format())
		if pf, ok := med[sysPostfix]; ok && s != sysPostfix && s != sysCeiling {
			line += fmt.Sprintf(" accept/postfix=%.2fx e2e/postfix=%.2fx", m.accept/pf.accept, m.e2e/pf.e2e)
		}
		if c, ok := med[sysCeiling]; ok && s != sysCeiling {
			line += fmt.Sprintf(" e2e/ceiling=%.0f%%", 100*m.e2e/c.accept)
		}
		fmt.Fprintln(w, line)
	}
}

func median(rs []result, f func(result) float64) float64 {
	if len(rs) == 0 {
		return 0
	}
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// buildOutbox builds the daemon into the run directory unless -outbox
// named a binary.
func (o *compareOpts) buildOutbox(ctx context.Context, stderr io.Writer) error {
	if o.bin != "" {
		return nil
	}
	o.bin = filepath.Join(o.dir, "outbox")
	build := exec.CommandContext(ctx, "go", "build", "-o", o.bin, "./cmd/outbox")
	build.Stdout, build.Stderr = stderr, stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building outbox (run from the repository root, or pass -outbox): %w", err)
	}
	return nil
}

// runMode runs every system o.runs times, alternating, with m messages per
// session, and reports the medians.
func runMode(ctx context.Context, o *compareOpts, m int, stdout, stderr io.Writer) error {
	res := map[string][]result{}
	for run := 1; run <= o.runs; run++ {
		for _, sys := range o.systems {
			if err := ctx.Err(); err != nil {
				return err
			}
			fmt.Fprintf(stderr, "%s run %d/%d: %s, %s\n", time.Now().Format("15:04:05"), run, o.runs, sys, modeName(m))
			r, err := runOne(ctx, o, sys, load{n: o.n, c: o.c, size: o.size, perSession: m}, filepath.Join(o.dir, fmt.Sprintf("%s-m%d-%d", sys, m, run)))
			if err != nil {
				return fmt.Errorf("%s run %d: %w", sys, run, err)
			}
			fmt.Fprintf(stderr, "    %s\n", r.format())
			if r.checked != "" {
				fmt.Fprintf(stderr, "    checked: %s\n", r.checked)
			}
			res[sys] = append(res[sys], r)
		}
	}
	report(stdout, o.systems, res, modeName(m))
	return nil
}
