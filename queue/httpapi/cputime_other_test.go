//go:build !linux

package httpapi_test

import "time"

// cpuTime is not measured outside Linux: the benchmark reports 0.
func cpuTime() time.Duration { return 0 }
