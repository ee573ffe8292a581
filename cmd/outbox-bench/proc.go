package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clkTck is USER_HZ, the unit of /proc/*/stat CPU times. It is 100 on every
// Linux architecture Go supports (the kernel fixes it for user space).
const clkTck = 100

// machineCPU returns the whole machine's busy jiffies from /proc/stat
// (user nice system irq softirq steal; guest time is already inside user).
func machineCPU() (busy int64) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := bytes.Cut(data, []byte("\n"))
	f := strings.Fields(string(line))
	for i := 1; i <= 8 && i < len(f); i++ {
		v, _ := strconv.ParseInt(f[i], 10, 64)
		if i != 4 && i != 5 { // idle, iowait
			busy += v
		}
	}
	return busy
}

// procStat is the part of /proc/PID/stat this program reads.
type procStat struct {
	ppid                         int
	utime, stime, cutime, cstime int64
}

func readStat(pid int) (procStat, bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, false
	}
	// The command name (field 2) may hold spaces; fields resume after ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 15 {
		return procStat{}, false
	}
	n := func(k int) int64 { v, _ := strconv.ParseInt(f[k], 10, 64); return v }
	// f[0] is field 3 (state): ppid is field 4, utime..cstime fields 14-17.
	return procStat{ppid: int(n(1)), utime: n(11), stime: n(12), cutime: n(13), cstime: n(14)}, true
}

// children lists the live processes whose parent is pid.
func children(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := readStat(p); ok && st.ppid == pid {
			out = append(out, p)
		}
	}
	return out
}

// treeCPU is the CPU jiffies used by pid, its reaped children, and its live
// children (one level: Postfix's master starts every service directly).
func treeCPU(pid int, withChildren bool) int64 {
	st, ok := readStat(pid)
	if !ok {
		return 0
	}
	t := st.utime + st.stime + st.cutime + st.cstime
	if withChildren {
		for _, c := range children(pid) {
			if cs, ok := readStat(c); ok {
				t += cs.utime + cs.stime
			}
		}
	}
	return t
}

// statusKB returns a "Vm...:" or "Rss...:" value of /proc/PID/status in KiB.
func statusKB(pid int, key string) int64 {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}

// pssKB is the process's proportional set size in KiB, from smaps_rollup.
func pssKB(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Pss:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}

// rssSampler records the peak of a process's VmRSS (or, for Postfix, of
// the summed PSS of the process and its children) every 50 ms until stopped.
type rssSampler struct {
	stop chan struct{}
	wg   sync.WaitGroup
	peak int64 // KiB; read after Stop
}

func sampleRSS(pid int, withChildren bool) *rssSampler {
	s := &rssSampler{stop: make(chan struct{})}
	s.wg.Go(func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			sum := statusKB(pid, "VmRSS")
			if withChildren {
				// Proportional set size: shared pages (libraries, the
				// same binary in many processes) counted once overall.
				sum = pssKB(pid)
				for _, c := range children(pid) {
					sum += pssKB(c)
				}
			}
			s.peak = max(s.peak, sum)
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	})
	return s
}

// Stop ends sampling and returns the peak in KiB.
func (s *rssSampler) Stop() int64 {
	close(s.stop)
	s.wg.Wait()
	return s.peak
}
