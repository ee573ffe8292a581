package store

import (
	"context"
	"testing"
)

func TestTLSState(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir()
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := db.MTASTSPolicy(ctx, "example.com"); v != nil || err != nil {
		t.Fatalf("empty spool: %q, %v", v, err)
	}
	if err := db.PutMTASTSPolicy(ctx, "Example.COM.", []byte("p1")); err != nil {
		t.Fatal(err)
	}
	for _, l := range []uint8{1, 2, 1} {
		if err := db.RaiseTLSLevel(ctx, "example.com", l); err != nil {
			t.Fatal(err)
		}
	}
	if l, _ := db.TLSLevel(ctx, "EXAMPLE.com"); l != 2 {
		t.Fatalf("level %d after raising to 2 and offering 1, want 2", l)
	}
	// Kept across a restart.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if db, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, _ := db.MTASTSPolicy(ctx, "example.com"); string(v) != "p1" {
		t.Fatalf("policy after reopen %q", v)
	}
	if all, _ := db.TLSLevels(ctx); all["example.com"] != 2 || len(all) != 1 {
		t.Fatalf("levels %v", all)
	}
	if found, err := db.ResetTLSLevel(ctx, "example.com"); !found || err != nil {
		t.Fatalf("reset: %v, %v", found, err)
	}
	if l, _ := db.TLSLevel(ctx, "example.com"); l != 0 {
		t.Fatalf("level %d after reset", l)
	}
	if found, _ := db.ResetTLSLevel(ctx, "example.com"); found {
		t.Fatal("second reset found a level")
	}
}
