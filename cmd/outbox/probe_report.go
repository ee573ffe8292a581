package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/outbox-mta/outbox/delivery/probe"
)

// writeProbeReport prints one report as text, in the order of the
// session, ending with the verdict line.
func writeProbeReport(w io.Writer, rep *probe.Report, f *probeFlags) {
	fmt.Fprintf(w, "== %s (%s)\n", rep.Host, rep.Addr)
	if rep.Greeting != "" {
		fmt.Fprintf(w, "greeting: %s\n", rep.Greeting)
	}
	writeLines(w, "EHLO", rep.EHLO)
	if t := rep.TLS; t != nil {
		fmt.Fprintf(w, "TLS: %s, %s\n", t.Version, t.Cipher)
		for i, c := range t.Chain {
			fmt.Fprintf(w, "  cert %d: subject %s\n          issuer %s\n", i, c.Subject, c.Issuer)
			if names := append(append([]string(nil), c.DNSNames...), c.IPs...); len(names) > 0 {
				fmt.Fprintf(w, "          names %s\n", strings.Join(names, ", "))
			}
			fmt.Fprintf(w, "          valid %s to %s\n", c.NotBefore.Format("2006-01-02 15:04:05Z"), c.NotAfter.Format("2006-01-02 15:04:05Z"))
		}
		if t.Verified {
			fmt.Fprintf(w, "verification: Verified for %s (WebPKI)\n", t.ServerName)
		} else {
			fmt.Fprintf(w, "verification: FAILED for %s: %s\n", t.ServerName, t.VerifyError)
		}
	}
	writeLines(w, "EHLO after STARTTLS", rep.EHLOAfter)
	if len(rep.AuthMechs) > 0 {
		fmt.Fprintf(w, "AUTH mechanisms: %s\n", strings.Join(rep.AuthMechs, " "))
	}
	for _, s := range rep.Steps {
		fmt.Fprintf(w, "> %s\n< %d %s\n", s.Command, s.Code, strings.ReplaceAll(s.Reply, "\n", "\n< "))
	}
	switch {
	case rep.Error != "":
		fmt.Fprintf(w, "result: FAILED: %s\n", rep.Error)
	case !probeTLSOK(rep, f) && rep.TLS == nil:
		fmt.Fprintln(w, "result: FAILED: no TLS (the server offers no STARTTLS)")
	case !probeTLSOK(rep, f):
		fmt.Fprintln(w, "result: FAILED: the certificate does not verify")
	default:
		fmt.Fprintln(w, "result: OK")
	}
}

func writeLines(w io.Writer, title string, lines []string) {
	if len(lines) == 0 {
		return
	}
	fmt.Fprintf(w, "%s:\n", title)
	for _, l := range lines {
		fmt.Fprintf(w, "  %s\n", l)
	}
}
