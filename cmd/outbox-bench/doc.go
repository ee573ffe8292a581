// Command outbox-bench measures Outbox side by side with Postfix on
// loopback, and measures how Outbox's spool behaves with a million queued
// messages.
//
//	go run ./cmd/outbox-bench compare [flags]   # needs root, postfix, smtp-source, smtp-sink
//	go run ./cmd/outbox-bench scale   [flags]
//
// compare runs, alternating, several times each:
//
//   - ceiling: smtp-source straight into smtp-sink (no queue in between);
//   - postfix: a private Postfix instance (its own main.cf, master.cf, queue
//     and log under the run directory; defaults except the settings a
//     loopback relay needs) relaying to smtp-sink;
//   - outbox-relay: Outbox relaying to the same smtp-sink through a
//     smarthost route ([relay.sink], tls "none", routes "*" = "sink");
//   - outbox-mx: Outbox resolving the recipient domain's MX against a DNS
//     server run by this program on loopback, delivery.port = the sink;
//   - outbox-full: outbox-mx with every capability that costs per message
//     on: the DNS cache, a [[shaping]] rule for the recipient domain whose
//     limits never bind, the HTTP API and metrics listeners, and a webhook
//     to an HTTP endpoint of this program that receives every event (the
//     daemon's CPU is read once it has every delivered event);
//   - outbox-full-dkim: outbox-full signing with DKIM, with an RSA-2048
//     key this program generates (the kind every receiver verifies);
//     outbox-full-ed25519 (on request, not in the default systems) the
//     same with an Ed25519 key (RFC 8463). After each full run, the run fails unless every capability was at
//     work: the API answers, /metrics counts DNS cache hits, the webhook
//     got every delivery, and a check message routed to a capture SMTP
//     server of this program arrives signed, the signature verifying
//     against the key's record (unsigned with DKIM off);
//   - outbox-pg: outbox-relay with spool.backend = "postgres", one node,
//     on a private PostgreSQL server this program starts (store/pgstore/
//     pgtest: initdb in a temporary directory, a loopback port), a fresh
//     database per run; in the default systems where PostgreSQL is
//     installed;
//   - outbox-pg3: three such nodes on one database, the load split evenly
//     among them (one smtp-source each, as a TCP load balancer would);
//     cpu and rss are the first node's.
//
// The outbox-pg runs print a second line: the CPU per message of every
// node together and of the PostgreSQL server (postmaster and backends),
// and the statements per message the nodes ran, most frequent first
// (pg_stat_statements, preloaded in the private server; background loops
// included, BEGIN and COMMIT of pipelined batches not).
//
// On one machine the nodes of outbox-pg3 share its cores with each other,
// PostgreSQL and the load generator, so CPU-bound nodes cannot scale
// there. -node-cpu F (root, a cgroup cpu controller: v1 or v2) caps every
// Outbox process, of every system, at F CPUs with a CPU bandwidth quota:
// each node is then a small machine of F CPUs, and outbox-pg3 shows what
// three such machines on one database do. The header says so when it is
// set.
//
// Every run gets a fresh sink, a fresh instance and a fresh spool. The load
// is smtp-source with N messages over C sessions of S bytes, one message per
// session (-m 1) or many (-m 0: smtp-source -d, each session carries about
// N/C messages). smtp-source reports no latencies, so a latency probe (one
// extra session of this program, go-smtp client) submits messages back to
// back while smtp-source runs and times each from the end of DATA to the
// server's reply; its messages are counted in the sink's target but not in
// the throughputs. Figures per run:
//
//	accept   N / time until smtp-source exited (every message got its 250)
//	e2e      N / time until smtp-sink had counted every message
//	p50 p99  the probe's DATA-end → 250 latency
//	cpu      CPU ms per message of the system's processes (Outbox: the
//	         daemon; Postfix: master and all its children, live and reaped;
//	         ceiling: smtp-sink), from /proc/PID/stat
//	mcpu     CPU ms per message of the whole machine (load generator and
//	         sink included), from /proc/stat
//	rss      peak resident memory: Outbox's VmHWM; for Postfix the peak of
//	         the summed PSS of its processes (shared pages counted once),
//	         sampled every 50 ms
//
// The line per system gives the medians over the runs and the ratios of the
// medians to Postfix's and to the ceiling's (e2e for the ceiling is its
// accept rate). Nothing is left running: every process started is stopped
// at the end of its run, and on SIGINT/SIGTERM.
//
// scale fills a spool with deferred messages over many domains through the
// store API, then reports the cost of the due-index queries at checkpoints,
// the spool's bytes per message, and, starting the real daemon on it, its
// start-up time, its RSS and the time of `outbox queue list`'s first page.
//
// This is a tool, not a library: it imports the store to fill the spool,
// go-smtp for the probe and the capture server, go-msgauth to verify the
// check message's signature, and nothing else of Outbox.
package main
