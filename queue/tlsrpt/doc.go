// Package tlsrpt does SMTP TLS reporting (RFC 8460) for outbound mail: it
// counts the TLS result of every delivery session per UTC day and policy
// domain, and once a day sends each domain that asks for it the aggregate
// report of the days gone by.
//
// It owns the report format (RFC 8460 §4, JSON, gzip), the parsing of the
// "_smtp._tls" TXT record (§3), the report as an email (§5.3) and the
// HTTPS POST (§5.4). It uses the spool (store) for the aggregates and, for
// mailed reports, as the listener does: a report is a message of our own
// queue, with its retries and bounces. The counts come from the TLS
// outcome delivery records for each attempt; the daily run is a
// queue/maintenance job.
//
// Never imports: cmd/..., config, queue, delivery/....
// Never imports directly: go.etcd.io/bbolt.
//
// # Contract
//
//   - Recorder.Record never blocks or fails; results are merged into the
//     spool in one transaction per FlushInterval (and at the end of Run),
//     never one per attempt. A crash loses at most one interval's counts.
//   - Sessions are counted per policy (type, policy strings, domain, mx
//     patterns): successes and failures in the summary, failures also by
//     result type, sending IP, receiving MX name and IP, at most 100
//     kinds per policy and day (more only in the summary).
//   - Reporter.Send reports only finished days (before today, UTC). A TXT
//     lookup failure keeps the day for the next run; otherwise the day's
//     aggregate is removed after the attempt, whether or not a report
//     went out (no record: none is sent; RFC 8460 §5.4 lets a sender give
//     up on a report).
//   - A report carries every field RFC 8460 §4.4 requires, policy-string
//     as an array even when empty; date-range covers the UTC day, from
//     00:00:00Z to 23:59:59Z.
//   - mailto: destinations get a multipart/report; report-type="tlsrpt"
//     message from ReporterOptions.From, with TLS-Report-Domain and
//     TLS-Report-Submitter and the report as application/tlsrpt+gzip named
//     "submitter!domain!begin!end!id.json.gz" (§5.3), DKIM-signed by the
//     Signer when it has a key for the From domain; https: destinations
//     a POST of the gzipped JSON as application/tlsrpt+gzip, any 2xx
//     being success (§5.4). Other schemes are ignored.
package tlsrpt
