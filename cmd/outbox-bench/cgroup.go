package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// CPU caps: on one machine the nodes of outbox-pg3 share its cores with
// each other, PostgreSQL and the load generator, so three nodes that are
// each CPU-bound cannot be faster than one. -node-cpu F gives every
// Outbox process its own CPU bandwidth quota of F CPUs (a cgroup: the
// "cpu" controller of cgroup v1, or cpu.max of cgroup v2) so that each
// node is a small machine of F CPUs, and the outbox-pg3 run shows what
// three such machines on one database do. The runtime sees the quota
// (Go's container-aware GOMAXPROCS). PostgreSQL, the sink and the load
// generator are not capped.

// cgroupRoot is where the cpu controller is mounted: cgroup v2's unified
// hierarchy, or v1's cpu hierarchy.
func cgroupRoot() (dir string, v2 bool, err error) {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return "/sys/fs/cgroup", true, nil
	}
	for _, d := range []string{"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"} {
		if _, err := os.Stat(filepath.Join(d, "cpu.cfs_quota_us")); err == nil {
			return d, false, nil
		}
	}
	return "", false, errors.New("no cgroup cpu controller under /sys/fs/cgroup")
}

// capCPU moves pid into a new cgroup whose CPU bandwidth is cpus CPUs
// (a quota per 100 ms period) and returns the function that removes the
// cgroup once pid has exited.
func capCPU(pid int, cpus float64) (release func(), err error) {
	root, v2, err := cgroupRoot()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(root, fmt.Sprintf("outbox-bench-%d-%d", os.Getpid(), pid))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("-node-cpu: %w (needs root and a writable cgroup hierarchy)", err)
	}
	release = func() { os.Remove(dir) }
	const period = 100000 // µs
	quota := strconv.Itoa(max(1000, int(cpus*period)))
	write := func(name, v string) error {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o644); err != nil {
			return fmt.Errorf("-node-cpu: %s: %w", name, err)
		}
		return nil
	}
	if v2 {
		err = write("cpu.max", quota+" "+strconv.Itoa(period))
	} else {
		err = write("cpu.cfs_period_us", strconv.Itoa(period))
		if err == nil {
			err = write("cpu.cfs_quota_us", quota)
		}
	}
	if err == nil {
		err = write("cgroup.procs", strconv.Itoa(pid))
	}
	if err != nil {
		release()
		return nil, err
	}
	return release, nil
}
