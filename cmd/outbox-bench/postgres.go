package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"

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
// pg_stat_statements counts the statements the nodes run (meterPG).
func startPostgres(o *compareOpts) (stop func(), err error) {
	if o.pg, err = pgtest.Start("shared_preload_libraries=pg_stat_statements"); err != nil {
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
	o.pgURL = url
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
	var pids []int
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
		if err := o.capNode(s, ob); err != nil {
			return s, err
		}
		s.stops = append(s.stops, ob.stop)
		s.ports = append(s.ports, port)
		pids = append(pids, ob.pid())
		if i == 0 {
			s.port, s.pid = port, ob.pid()
		}
	}
	s.meter = func() func(n int) string { return meterPG(ctx, o, pids) }
	return s, nil
}

// capNode caps ob's CPU at -node-cpu (cgroup.go); its cgroup is removed
// after ob stops.
func (o *compareOpts) capNode(s *systemUnderTest, ob *outboxInstance) error {
	if o.nodeCPU <= 0 {
		return nil
	}
	release, err := capCPU(ob.pid(), o.nodeCPU)
	if err != nil {
		ob.stop()
		return err
	}
	s.stops = append(s.stops, release) // stops run last first: after ob's
	return nil
}

// meterPG starts measuring PostgreSQL's side of a run and returns the
// function that ends it and describes it, per message of the n relayed:
// the CPU of every node together and of the PostgreSQL server (the
// postmaster and its backends), and the statements the nodes ran
// (pg_stat_statements: BEGIN and COMMIT count, each statement of a
// pipelined batch counts; background loops included), the most frequent
// first.
func meterPG(ctx context.Context, o *compareOpts, pids []int) func(n int) string {
	nodes := func() (t int64) {
		for _, p := range pids {
			t += treeCPU(p, false)
		}
		return t
	}
	server := o.pg.PID()
	conn, err := pgx.Connect(ctx, o.pgURL)
	if err == nil {
		_, err = conn.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset()`)
	}
	n0, s0 := nodes(), treeCPU(server, true)
	return func(n int) string {
		perMsg := func(j int64) float64 { return float64(j) * 1000 / clkTck / float64(n) }
		out := fmt.Sprintf("nodes-cpu=%.3fms/msg pg-cpu=%.3fms/msg", perMsg(nodes()-n0), perMsg(treeCPU(server, true)-s0))
		if conn != nil {
			defer conn.Close(ctx)
		}
		if err != nil {
			return out + " (pg_stat_statements: " + err.Error() + ")"
		}
		return out + stmtsPerMsg(ctx, conn, n)
	}
}

// stmtsPerMsg describes the statements of the run's database per message:
// the total, and the most frequent with their first words.
func stmtsPerMsg(ctx context.Context, conn *pgx.Conn, n int) string {
	rows, err := conn.Query(ctx, `SELECT calls, query FROM pg_stat_statements
		WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
			AND query NOT LIKE '%pg_stat_statements%' ORDER BY calls DESC`)
	if err != nil {
		return " (pg_stat_statements: " + err.Error() + ")"
	}
	defer rows.Close()
	var total int64
	var top []string
	for rows.Next() {
		var calls int64
		var q string
		if rows.Scan(&calls, &q) != nil {
			break
		}
		total += calls
		if len(top) < 6 {
			f := strings.Fields(q)
			top = append(top, fmt.Sprintf("%.2f %s", float64(calls)/float64(n), strings.Join(f[:min(len(f), 4)], " ")))
		}
	}
	return fmt.Sprintf(" stmts=%.2f/msg [%s]", float64(total)/float64(n), strings.Join(top, "; "))
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
