package store

// The behavioural tests of Update, Due, List, Stats, Prune, notices and
// idempotency records are the backend-neutral suite (store/storetest, run
// by suite_test.go against this package and by store/pgstore's tests).

func equalIDs(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
