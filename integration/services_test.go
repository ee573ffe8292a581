package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery/smtptest"
)

// sendmail runs `outbox sendmail args...` with stdin, as a cron job would.
func (d *daemon) sendmail(stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append([]string{"sendmail", "-C", d.config}, args...)...)
	cmd.Dir = d.dir
	cmd.Env = append(cmd.Environ(), "USER=cron")
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func TestSendmailDeliversAndMetricsCount(t *testing.T) {
	w := newMXWorld(t,
		"example.net. MX 10 mx.example.net.",
		"mx.example.net. A 127.0.0.3",
	)
	mx := w.mx(t, "127.0.0.3", smtptest.Options{Rcpt: func(to string) error {
		if to == "unknown@example.net" {
			return smtptest.Reply(550, "5.1.1", "no such user")
		}
		return nil
	}})
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	cfg := w.config(t, dir, addr, "dsn = false\n[metrics]\naddress = \""+metricsAddr+"\"\n")
	d := startDaemon(t, dir, cfg, addr)

	// -t: recipients from To, Cc and Bcc; Bcc removed; a lone dot ends
	// the message (no -i), what follows it is not sent.
	msg := "To: To One <to@example.net>\nCc: cc@example.net\nBcc: secret@example.net\nSubject: from cron\n\nreport\n.\nnot part of it\n"
	if out, err := d.sendmail(msg, "-t", "-oem"); err != nil {
		t.Fatalf("sendmail -t: %v\n%s", err, out)
	}
	// -f sets the envelope sender; an argument adds a recipient to -t's.
	if out, err := d.sendmail("To: to@example.net\nSubject: second\n\nbody\n", "-t", "-f", "app@example.org", "-F", "The App", "extra@example.net"); err != nil {
		t.Fatalf("sendmail -f: %v\n%s", err, out)
	}
	// Arguments only (no -t): the To field is not a recipient.
	if out, err := d.sendmail("To: to@example.net\nSubject: third\n\nbody\n", "-i", "unknown@example.net"); err != nil {
		t.Fatalf("sendmail rcpt: %v\n%s", err, out)
	}
	d.waitQueueEmpty(60 * time.Second)

	checkSendmailMessages(t, mx)

	// The daemon's counters, scraped: 3 accepted, 5 delivered (3+2), 1
	// bounced by the remote, 2 attempts... at least one attempt per
	// transaction, none over TLS (the MX offers none).
	metrics := scrapeMetrics(t, "http://"+metricsAddr+"/metrics")
	for name, want := range map[string]float64{
		"outbox_messages_accepted_total":                       3,
		"outbox_recipients_delivered_total":                    5,
		`outbox_recipients_bounced_total{reason="remote-5xx"}`: 1,
		`outbox_recipients_bounced_total{reason="expired"}`:    0,
		`outbox_delivery_attempts_total{tls="none"}`:           3,
		"outbox_delivery_attempt_duration_seconds_count":       3,
		"outbox_deliveries_ambiguous_total":                    0,
		"outbox_queue_messages_pending":                        0,
		`outbox_queue_recipients{state="delivered"}`:           5,
		`outbox_queue_recipients{state="bounced"}`:             1,
		"outbox_queue_oldest_message_age_seconds":              0,
	} {
		if got, ok := metrics[name]; !ok || got != want {
			t.Errorf("%s = %v (present %t), want %v", name, got, ok, want)
		}
	}

	// `outbox queue stats` agrees.
	stats := d.cli("queue", "stats", "--json")
	for _, s := range []string{`"messages": 3`, `"pending": 0`, `"delivered": 5`, `"bounced": 1`} {
		if !strings.Contains(stats, s) {
			t.Errorf("queue stats lacks %s:\n%s", s, stats)
		}
	}

	checkStories(t, d.log.String())
}

// checkSendmailMessages checks what TestSendmailDeliversAndMetricsCount's
// three sendmail runs delivered to mx: -t's recipients without Bcc, the
// lone dot, -f and -F, and the refused recipient's message absent.
func checkSendmailMessages(t *testing.T, mx *smtptest.Server) {
	t.Helper()
	bySubject := map[string]smtptest.Message{}
	for _, m := range mx.Messages() {
		s := regexp.MustCompile(`(?m)^Subject: (.*)\r$`).FindSubmatch(m.Data)
		if s == nil {
			t.Fatalf("message without subject:\n%s", m.Data)
		}
		bySubject[string(s[1])] = m
	}
	first, ok := bySubject["from cron"]
	if !ok {
		t.Fatalf("the -t message was not delivered; got %v", bySubject)
	}
	rcpts := slices.Sorted(slices.Values(first.Rcpts))
	if want := []string{"cc@example.net", "secret@example.net", "to@example.net"}; !slices.Equal(rcpts, want) {
		t.Errorf("-t recipients %v, want %v", rcpts, want)
	}
	if first.From != "cron@outbox.test" {
		t.Errorf("default envelope sender %q, want cron@outbox.test", first.From)
	}
	if bytes.Contains(first.Data, []byte("Bcc:")) || bytes.Contains(first.Data, []byte("secret")) {
		t.Errorf("Bcc leaked:\n%s", first.Data)
	}
	if bytes.Contains(first.Data, []byte("not part of it")) || !bytes.Contains(first.Data, []byte("report")) {
		t.Errorf("body not cut at the lone dot:\n%s", first.Data)
	}
	second := bySubject["second"]
	if second.From != "app@example.org" || !slices.Equal(slices.Sorted(slices.Values(second.Rcpts)), []string{"extra@example.net", "to@example.net"}) {
		t.Errorf("-f message: from %q rcpts %v", second.From, second.Rcpts)
	}
	if !bytes.Contains(second.Data, []byte(`From: "The App" <app@example.org>`)) {
		t.Errorf("-F: no From field with the full name:\n%s", second.Data)
	}
	if _, ok := bySubject["third"]; ok {
		t.Error("the third message reached the MX, but its only recipient was refused")
	}
}

// checkStories checks that each message's story is in the log under its
// ID: accepted, then delivered or bounced.
func checkStories(t *testing.T, log string) {
	t.Helper()
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, "msg=accepted") {
			continue
		}
		id := regexp.MustCompile(`msgid=(\S+)`).FindStringSubmatch(line)
		if id == nil {
			t.Errorf("acceptance line without msgid: %s", line)
			continue
		}
		story := regexp.MustCompile(`(?m)^.*msgid=`+regexp.QuoteMeta(id[1])+`\b.*$`).FindAllString(log, -1)
		if !slices.ContainsFunc(story, func(l string) bool {
			return strings.Contains(l, "msg=delivered") || strings.Contains(l, "msg=bounced")
		}) {
			t.Errorf("message %s: no delivery or bounce line in its story:\n%s", id[1], strings.Join(story, "\n"))
		}
	}
}

func TestSendmailDaemonDown(t *testing.T) {
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	path := filepath.Join(dir, "outbox.toml")
	writeFile(t, path, fmt.Sprintf("hostname = \"outbox.test\"\n[spool]\ndir = %q\n[[listen.submission]]\naddress = %q\n", filepath.Join(dir, "spool"), addr))
	cmd := exec.Command(binary, "sendmail", "-C", path, "a@example.net")
	cmd.Stdin = strings.NewReader("Subject: x\n\nbody\n")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errorsAs(err, &ee) || ee.ExitCode() != 75 || !strings.Contains(string(out), "did not take the message") {
		t.Errorf("sendmail with no daemon: %v\n%s\nwant exit 75 (EX_TEMPFAIL) and an explanation", err, out)
	}
}

// scrapeMetrics returns the samples of a Prometheus text exposition, by
// name with labels as written.
func scrapeMetrics(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}
