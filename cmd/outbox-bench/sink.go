package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"
)

// sink is a running smtp-sink that counts what it receives.
type sink struct {
	port int
	cmd  *exec.Cmd
	out  string // its stdout: counters after every session, QUIT and "."
}

// startSink starts smtp-sink on 127.0.0.1:port. -c writes the counters
// "sess=.. quit=.. mesg=.." after every message, which is how completion is
// detected; -h gives a greeting name other than Postfix's, or Postfix would
// refuse with "mail loops back to myself".
func startSink(dir string, port int) (*sink, error) {
	s := &sink{port: port, out: filepath.Join(dir, "sink.out")}
	stdout, err := os.Create(s.out)
	if err != nil {
		return nil, err
	}
	defer stdout.Close()
	stderr, err := os.Create(filepath.Join(dir, "sink.err"))
	if err != nil {
		return nil, err
	}
	defer stderr.Close()
	s.cmd = exec.Command("smtp-sink", "-4", "-c", "-u", "nobody", "-h", "sink.localdomain", "-m", "256",
		fmt.Sprintf("127.0.0.1:%d", port), "1024")
	s.cmd.Stdout, s.cmd.Stderr = stdout, stderr
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start smtp-sink: %w", err)
	}
	if err := waitListen(port, 5*time.Second); err != nil {
		s.stop()
		return nil, fmt.Errorf("smtp-sink: %w", err)
	}
	return s, nil
}

var mesgRE = regexp.MustCompile(`mesg=(\d+)[^m]*$`)

// count is the sink's message counter (the last one it wrote).
func (s *sink) count() int {
	f, err := os.Open(s.out)
	if err != nil {
		return 0
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0
	}
	buf := make([]byte, 120)
	off := max(st.Size()-int64(len(buf)), 0)
	n, _ := f.ReadAt(buf, off)
	if m := mesgRE.FindSubmatch(buf[:n]); m != nil {
		v, _ := strconv.Atoi(string(m[1]))
		return v
	}
	return 0
}

// wait polls until the sink has counted target messages.
func (s *sink) wait(ctx context.Context, target int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for s.count() < target {
		if s.cmd.ProcessState != nil {
			return errors.New("smtp-sink died")
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sink counted %d of %d: %w", s.count(), target, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

func (s *sink) stop() { stopProcess(s.cmd, 5*time.Second) }

// stopProcess sends SIGTERM, then SIGKILL after grace, and reaps the
// process. Only processes this program started are ever signalled.
func stopProcess(cmd *exec.Cmd, grace time.Duration) {
	if cmd == nil || cmd.Process == nil || cmd.ProcessState != nil {
		return
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		cmd.Process.Kill()
		<-done
	}
}

// waitListen waits until something accepts connections on 127.0.0.1:port.
func waitListen(port int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			// Read the greeting so the server sees a polite client, then go.
			c.SetReadDeadline(time.Now().Add(time.Second))
			io.ReadAtLeast(c, make([]byte, 4), 4)
			c.Write([]byte("QUIT\r\n"))
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on 127.0.0.1:%d", port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freePort returns a TCP port free on 127.0.0.1 at the time of the call.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
