package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// outboxInstance is an `outbox serve` with a private config and spool under
// dir, logging to dir/outbox.log.
type outboxInstance struct {
	dir  string
	port int
	cmd  *exec.Cmd
}

// outboxConfig is the bench's configuration: submission on 127.0.0.1:port,
// and either a smarthost route to the sink (dnsPort == 0) or direct MX
// delivery resolved through the loopback DNS server, with MX hosts reached
// on the sink's port. TLS is off on the way out, as smtp-sink has none.
// extra is appended verbatim (the scale benchmark pauses delivery with it).
func outboxConfig(dir string, port, sinkPort, dnsPort int, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `hostname = "outbox-bench.localdomain"

[spool]
dir = %q

[admin]
socket = %q

[[listen.submission]]
address = "127.0.0.1:%d"
mode = "starttls"

[limits]
max_connections = 1000

# A port of its own for the HTTP API: never the fixed default, which
# another daemon on the machine may hold.
[api]
address = "127.0.0.1:0"

[delivery]
tls_policy = "none"
`, filepath.Join(dir, "spool"), filepath.Join(dir, "admin.sock"), port)
	if dnsPort != 0 {
		fmt.Fprintf(&b, "resolver = \"127.0.0.1:%d\"\nport = %d\n", dnsPort, sinkPort)
	}
	b.WriteString(extra)
	if dnsPort == 0 && sinkPort != 0 {
		fmt.Fprintf(&b, `
[relay.sink]
[[relay.sink.server]]
host = "127.0.0.1"
port = %d
tls = "none"

[routes]
"*" = "sink"
`, sinkPort)
	}
	return b.String()
}

func startOutbox(ctx context.Context, bin, dir, config string, port int) (*outboxInstance, error) {
	o := &outboxInstance{dir: dir, port: port}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "outbox.toml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "outbox.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	o.cmd = exec.Command(bin, "serve", "--config", cfgPath)
	o.cmd.Stdout, o.cmd.Stderr = logf, logf
	if err := o.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start outbox: %w", err)
	}
	if err := waitListen(port, 30*time.Second); err != nil {
		o.stop()
		return nil, fmt.Errorf("outbox: %w (log: %s)", err, logf.Name())
	}
	return o, nil
}

func (o *outboxInstance) pid() int { return o.cmd.Process.Pid }

// stop sends SIGTERM (graceful shutdown) and waits; SIGKILL after 30s.
func (o *outboxInstance) stop() { stopProcess(o.cmd, 30*time.Second) }
