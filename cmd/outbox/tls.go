package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/outbox-mta/outbox/queue/admin"
)

// runTLSList prints the TLS downgrade memory: each destination domain and
// the best TLS level it has shown, below which delivery is deferred.
func runTLSList(ctx context.Context, c *cli, args []string) int {
	return runTLS(ctx, c, "tls list", args, false)
}

// runTLSReset forgets one domain's TLS level (after a receiver really
// dropped TLS or its certificate), then prints the memory.
func runTLSReset(ctx context.Context, c *cli, args []string) int {
	return runTLS(ctx, c, "tls reset", args, true)
}

func runTLS(ctx context.Context, c *cli, verb string, args []string, reset bool) int {
	a := newAdminCmd(c, verb)
	asJSON := a.fs.Bool("json", false, "print a JSON object")
	pos, code, ok := a.parse(args)
	if !ok {
		return code
	}
	domain := ""
	switch {
	case reset && len(pos) != 1:
		return a.usageError("tls reset needs one DOMAIN")
	case reset:
		domain = pos[0]
	case len(pos) != 0:
		return a.usageError("unexpected argument %q", pos[0])
	}
	cl, err := a.client()
	if err != nil {
		return a.fail(err, "")
	}
	defer cl.Close()
	res, err := cl.TLS(ctx, domain)
	if err != nil {
		return a.fail(err, "")
	}
	if *asJSON {
		if err := writeJSON(c.stdout, res); err != nil {
			return a.fail(err, "")
		}
		return exitOK
	}
	if reset {
		if res.Reset {
			fmt.Fprintf(c.stdout, "%s: TLS level forgotten\n", domain)
		} else {
			fmt.Fprintf(c.stdout, "%s: no TLS level was remembered\n", domain)
		}
		return exitOK
	}
	printTLSLevels(c.stdout, res)
	return exitOK
}

func printTLSLevels(w io.Writer, res admin.TLSLevels) {
	if len(res.Levels) == 0 {
		fmt.Fprintln(w, "no TLS level remembered")
		return
	}
	for _, d := range slices.Sorted(maps.Keys(res.Levels)) {
		fmt.Fprintf(w, "%-40s %s\n", d, res.Levels[d])
	}
}
