package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/outbox-mta/outbox/store/pgstore/pgtest"
)

// defaultSystems are the systems compare runs without -systems: all of
// them, outbox-pg only where PostgreSQL's server is installed.
func defaultSystems() string {
	s := "ceiling,postfix,outbox-relay,outbox-mx," + sysFull + "," + sysFullDKIM
	if _, err := pgtest.BinDir(); err == nil {
		s += "," + sysPG + "," + sysPG3
	}
	return s
}

// startPostgres starts the private PostgreSQL server of the outbox-pg
// runs (initdb in a temporary directory, pg_ctl on a loopback port; as
// the postgres user when run as root), and returns its stop.
func startPostgres(o *compareOpts) (stop func(), err error) {
	if o.pg, err = pgtest.Start(); err != nil {
		return nil, fmt.Errorf("outbox-pg: %w", err)
	}
	return o.pg.Stop, nil
}

// postgresSpool makes a fresh database for one outbox-pg run and returns
// the [spool] keys that put the spool in it.
func postgresSpool(ctx context.Context, o *compareOpts) (string, error) {
	url, err := o.pg.CreateDatabase(ctx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("backend = \"postgres\"\npostgres_url = %q\n", url), nil
}

// startNodes starts n outbox-relay nodes on one fresh database, each
// relaying to the sink on sinkPort. The CPU and memory figures are the
// first node's.
func startNodes(ctx context.Context, o *compareOpts, dir string, s *systemUnderTest, sinkPort, n int) (*systemUnderTest, error) {
	keys, err := postgresSpool(ctx, o)
	if err != nil {
		return s, err
	}
	for i := range n {
		port, err := freePort()
		if err != nil {
			return s, err
		}
		nodeDir := filepath.Join(dir, fmt.Sprintf("node%d", i+1))
		cfg := strings.Replace(outboxConfig(nodeDir, port, sinkPort, 0, ""), "[spool]\n", "[spool]\n"+keys, 1)
		ob, err := startOutbox(ctx, o.bin, nodeDir, cfg, port)
		if err != nil {
			return s, err
		}
		s.stops = append(s.stops, ob.stop)
		s.ports = append(s.ports, port)
		if i == 0 {
			s.port, s.pid = port, ob.pid()
		}
	}
	return s, nil
}

// runSources runs the load against every port at once, split evenly
// (sessions and messages), as a TCP load balancer in front of the nodes
// would; it returns when every smtp-source has exited.
func runSources(ctx context.Context, ports []int, l load) error {
	if len(ports) == 1 {
		return runSource(ctx, ports[0], l, l.n)
	}
	errs := make(chan error, len(ports))
	for i, p := range ports {
		part := l
		part.c = max(1, l.c/len(ports))
		n := l.n / len(ports)
		if i == 0 {
			n += l.n % len(ports)
		}
		go func() { errs <- runSource(ctx, p, part, n) }()
	}
	var first error
	for range ports {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}
