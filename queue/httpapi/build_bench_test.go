package httpapi

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// nopSpool is a Spool the build benchmark never reaches.
type nopSpool struct{}

func (nopSpool) NewBody() (*store.Body, error) { panic("not reached") }
func (nopSpool) Enqueue(context.Context, *store.Message, *store.Body) error {
	panic("not reached")
}
func (nopSpool) EnqueueOnce(context.Context, *store.Message, *store.Body, *store.Idempotency, time.Time) (*store.Idempotency, error) {
	panic("not reached")
}

// BenchmarkBuild measures what the API adds to a message's acceptance
// besides HTTP and the commit: decoding a 4 KiB text request, checking
// it and building its message, as BenchmarkAccept sends them.
//
//	go test -run '^$' -bench Build -benchmem ./queue/httpapi
func BenchmarkBuild(b *testing.B) {
	text := strings.Repeat(strings.Repeat("x", 78)+"\\r\\n", 4096/80)
	body := `{"from":"bench@example.com","to":["r@example.net"],"subject":"bench","text":"` + text + `"}`
	s, err := New(Options{Spool: nopSpool{}, Hostname: "outbox.test", MaxMessageSize: 1 << 20, MaxRecipients: 100})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		req, err := s.pools.decodeJSON(strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		p, err := req.check(100)
		if err != nil {
			b.Fatal(err)
		}
		bld := s.pools.getBuild(int(req.sizeHint()))
		if _, err := s.write(&bld.msg, req, p, "33mdhrnuqus6k", "127.0.0.1:1234", now, bld.chunk[:]); err != nil {
			b.Fatal(err)
		}
		io.Discard.Write(bld.msg.Bytes())
		s.pools.putBuild(bld)
	}
}
