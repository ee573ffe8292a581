package main

import (
	"context"
	"fmt"

	"github.com/outbox-mta/outbox/queue/httpapi"
)

// runAPIKeyCreate is `outbox api-key create --name NAME`: it makes a new
// random API key and prints the secret, once, and the [[api.keys]] entry
// holding its hash. The daemon never stores the secret, so it cannot be
// shown again: a lost key is replaced by a new one.
func runAPIKeyCreate(_ context.Context, c *cli, args []string) int {
	v := newVerbFlags(c, "api-key create")
	name := v.fs.String("name", "", "the key's `NAME`, in logs and each message's user (required)")
	if code, ok := v.parseNoArgs(args); !ok {
		return code
	}
	if *name == "" {
		fmt.Fprintln(c.stderr, "outbox api-key create: --name is required")
		v.fs.Usage()
		return exitUsage
	}
	secret, hash, err := httpapi.NewKey()
	if err != nil {
		fmt.Fprintf(c.stderr, "outbox api-key create: %v\n", err)
		return exitError
	}
	fmt.Fprintf(c.stdout, "# API key %q: give this secret to the application; it is not shown again.\n# Authorization: Bearer %s\n", *name, secret)
	fmt.Fprintf(c.stdout, "[[api.keys]]\nname = %q\nhash = %q\n", *name, hash)
	return exitOK
}
