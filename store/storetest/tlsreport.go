package storetest

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/outbox-mta/outbox/store"
)

// testTLSReports merges counts into per-day aggregates across a reopen,
// lists only finished days, keeps the aggregate whose Merge fails, and
// deletes one.
func testTLSReports(t *testing.T, opener Opener) {
	ctx := context.Background()
	db := open(opener, Options{})
	if got, err := db.TLSReports(ctx, "2999-01-01"); err != nil || got != nil {
		t.Fatalf("empty spool: %v %v", got, err)
	}
	add := func(n int) func([]byte) ([]byte, error) {
		return func(old []byte) ([]byte, error) {
			v := 0
			if old != nil {
				v, _ = strconv.Atoi(string(old))
			}
			return []byte(strconv.Itoa(v + n)), nil
		}
	}
	boom := errors.New("boom")
	err := db.UpdateTLSReports(ctx, []store.TLSReportUpdate{
		{Day: "2026-11-29", Domain: "a.test", Merge: add(2)},
		{Day: "2026-11-29", Domain: "b.test", Merge: add(1)},
		{Day: "2026-11-30", Domain: "a.test", Merge: add(5)},
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.UpdateTLSReports(ctx, []store.TLSReportUpdate{
		{Day: "2026-11-29", Domain: "a.test", Merge: add(3)},
		{Day: "2026-11-29", Domain: "b.test", Merge: func([]byte) ([]byte, error) { return nil, boom }},
	})
	if !errors.Is(err, boom) {
		t.Fatalf("failing merge: %v", err)
	}
	db.Close()
	db = open(opener, Options{})
	got, err := db.TLSReports(ctx, "2026-11-30")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Domain != "a.test" || string(got[0].Data) != "5" || got[1].Domain != "b.test" || string(got[1].Data) != "1" {
		t.Fatalf("TLSReports = %+v", got)
	}
	if err := db.DeleteTLSReport(ctx, "2026-11-29", "a.test"); err != nil {
		t.Fatal(err)
	}
	got, _ = db.TLSReports(ctx, "2026-12-01")
	if len(got) != 2 || got[0].Domain != "b.test" || got[1].Day != "2026-11-30" {
		t.Fatalf("after delete: %+v", got)
	}
}
