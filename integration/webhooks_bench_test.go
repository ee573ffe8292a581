package integration

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery/smtptest"
	"github.com/outbox-mta/outbox/mxresolve/dnstest"
)

// BenchmarkWebhooksAcceptDeliver measures accept+deliver throughput of
// the real daemon (a binary built without -race) with no webhook and with
// two webhook endpoints, alternately in one run (three rounds of each, a
// fresh daemon and spool per round, so a noisy neighbour hits both): b.N
// messages posted to the HTTP API by 8 concurrent clients, timed until the
// MX has received them all. It reports the median msgs/s of each, their
// ratio, and hook-catchup-ms: how long after the last mail the endpoints
// had every event (accepted and delivered of each message).
//
//	go test -run '^$' -bench WebhooksAcceptDeliver -benchtime 2000x ./integration
func BenchmarkWebhooksAcceptDeliver(b *testing.B) {
	bin := benchBinary(b)
	b.StopTimer()
	const rounds = 3
	var none, two, catchup, cpuNone, cpuTwo []float64
	for range rounds {
		r := benchAcceptDeliver(b, bin, 0)
		none, cpuNone = append(none, r.rate), append(cpuNone, r.cpu)
		r = benchAcceptDeliver(b, bin, 2)
		two, cpuTwo = append(two, r.rate), append(cpuTwo, r.cpu)
		catchup = append(catchup, r.catchup)
	}
	b.ReportMetric(median(none), "msgs/s-none")
	b.ReportMetric(median(two), "msgs/s-2hooks")
	b.ReportMetric(median(two)/median(none), "ratio")
	b.ReportMetric(median(cpuNone)*1000, "cpu-us/msg-none")
	b.ReportMetric(median(cpuTwo)*1000, "cpu-us/msg-2hooks")
	b.ReportMetric(median(catchup), "hook-catchup-ms")
	b.Logf("msgs/s without webhooks %.0f, with two %.0f (each round: %.0f / %.0f); daemon CPU ms/msg %.3f / %.3f (%.3f / %.3f)",
		median(none), median(two), none, two, median(cpuNone), median(cpuTwo), cpuNone, cpuTwo)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

var benchBuild struct {
	once sync.Once
	path string
	err  error
}

// benchBinary builds outbox without the race detector, once.
func benchBinary(b *testing.B) string {
	benchBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "outbox-bench-")
		if err != nil {
			benchBuild.err = err
			return
		}
		benchBuild.path = filepath.Join(dir, "outbox")
		out, err := exec.Command("go", "build", "-o", benchBuild.path, "../cmd/outbox").CombinedOutput()
		if err != nil {
			benchBuild.err = fmt.Errorf("%v: %s", err, out)
		}
	})
	if benchBuild.err != nil {
		b.Fatal(benchBuild.err)
	}
	return benchBuild.path
}

// benchResult is one round: msgs/s, the daemon's CPU ms per message
// (user and system, from /proc), and the webhooks' catch-up in ms.
type benchResult struct{ rate, cpu, catchup float64 }

// benchAcceptDeliver runs one daemon with hooks webhook endpoints through
// b.N messages.
func benchAcceptDeliver(b *testing.B, bin string, hooks int) (res benchResult) {
	dns := &dnstest.Server{Zone: dnstest.Zone(b, "example.net. MX 10 mx.example.net.", "mx.example.net. A 127.0.0.3")}
	dns.Start(b)
	mxPort := benchPort(b, "127.0.0.3")
	mx := smtptest.Start(b, smtptest.Options{Addr: fmt.Sprintf("127.0.0.3:%d", mxPort)})
	var hookEvents atomic.Int64
	var hookCfg bytes.Buffer
	for i := range hooks {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			hookEvents.Add(int64(bytes.Count(body, []byte(`"seq":`))))
			w.WriteHeader(http.StatusNoContent)
		}))
		b.Cleanup(srv.Close)
		fmt.Fprintf(&hookCfg, "[[webhooks]]\nname = \"hook%d\"\nurl = %q\nsecret = %q\n", i, srv.URL, hookSecret)
	}
	dir := b.TempDir()
	submit := fmt.Sprintf("127.0.0.1:%d", benchPort(b, "127.0.0.1"))
	api := fmt.Sprintf("127.0.0.1:%d", benchPort(b, "127.0.0.1"))
	cfg := fmt.Sprintf(`hostname = "outbox.test"
[spool]
dir = %q
[[listen.submission]]
address = %q
[delivery]
resolver = %q
port = %d
[log]
level = "warn"
[api]
address = %q
rate = 0
%s`, filepath.Join(dir, "spool"), submit, dns.Addr(), mxPort, api, hookCfg.String())
	path := filepath.Join(dir, "outbox.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config", path)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	benchWait(b, "the API", func() bool {
		c, err := net.Dial("tcp", api)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	var next atomic.Int64
	cpu0 := procCPU(b, cmd.Process.Pid)
	start := time.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				body := fmt.Sprintf(`{"from":"app@example.net","to":["r%d@example.net"],"subject":"bench","text":"hello"}`, i)
				resp, err := client.Post("http://"+api+"/v1/messages", "application/json", bytes.NewReader([]byte(body)))
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					b.Errorf("POST: %d", resp.StatusCode)
					return
				}
			}
		})
	}
	wg.Wait()
	benchWait(b, "every message delivered", func() bool { return len(mx.Messages()) >= b.N })
	elapsed := time.Since(start)
	if hooks > 0 {
		want := int64(hooks * 2 * b.N) // accepted and delivered, to each endpoint
		benchWait(b, "every event at the webhooks", func() bool { return hookEvents.Load() >= want })
		res.catchup = float64(time.Since(start)-elapsed) / float64(time.Millisecond)
	}
	res.cpu = float64(procCPU(b, cmd.Process.Pid)-cpu0) / float64(time.Millisecond) / float64(b.N)
	res.rate = float64(b.N) / elapsed.Seconds()
	return res
}

// procCPU is the user and system time process pid has used
// (/proc/PID/stat fields 14 and 15, in clock ticks of 1/100 s).
func procCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// The command name (field 2) may hold spaces: count after its ")".
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
	var utime, stime int64
	fmt.Sscan(f[11], &utime)
	fmt.Sscan(f[12], &stime)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

func benchPort(b *testing.B, ip string) int {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// benchWait polls cond until it holds, failing after two minutes.
func benchWait(b *testing.B, what string, cond func() bool) {
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
