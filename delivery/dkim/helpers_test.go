package dkim_test

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"sync"
	"testing"

	"github.com/outbox-mta/outbox/delivery/dkim"
)

// testKeys caches generated keys: RSA generation is slow under -race.
var testKeys = struct {
	once sync.Once
	rsa  *rsa.PrivateKey
	ed   ed25519.PrivateKey
}{}

func keys(t testing.TB) (*rsa.PrivateKey, ed25519.PrivateKey) {
	t.Helper()
	testKeys.once.Do(func() {
		var err error
		if testKeys.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		_, testKeys.ed, _ = ed25519.GenerateKey(rand.Reader)
	})
	return testKeys.rsa, testKeys.ed
}

// dnsFor answers TXT lookups with the records of the given keys, as the
// test "DNS" of go-msgauth's VerifyOptions.LookupTXT.
func dnsFor(t testing.TB, domain string, sel map[string]crypto.Signer) func(string) ([]string, error) {
	t.Helper()
	zone := map[string][]string{}
	for s, k := range sel {
		rec, err := dkim.Record(k.Public())
		if err != nil {
			t.Fatal(err)
		}
		zone[dkim.RecordName(s, domain)] = []string{rec}
	}
	return func(name string) ([]string, error) {
		if r, ok := zone[name]; ok {
			return r, nil
		}
		return nil, &notFound{name}
	}
}

type notFound struct{ name string }

func (e *notFound) Error() string { return "no such name " + e.name }

// newKeys builds a Keys with one domain signed by both test keys.
func newKeys(t testing.TB, domain string) (*dkim.Keys, map[string]crypto.Signer) {
	t.Helper()
	r, e := keys(t)
	sel := map[string]crypto.Signer{"rsa1": r, "ed1": e}
	k, err := dkim.NewKeys([]dkim.Domain{{Name: domain, Keys: []dkim.Key{
		{Selector: "rsa1", Signer: r}, {Selector: "ed1", Signer: e}}}}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return k, sel
}
