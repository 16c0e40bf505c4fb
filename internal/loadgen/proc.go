package loadgen

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// ProcSample is a process's CPU time and resident memory at one moment.
type ProcSample struct {
	CPU   time.Duration
	RSSKB int64
}

// ReadProc samples process pid from /proc/PID/stat and /proc/PID/status.
func ReadProc(pid int) (ProcSample, error) {
	var s ProcSample
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("--pid %d: %w", pid, err)
	}
	// The command name (field 2) may contain spaces and parentheses: the
	// fields we want follow the last ')'. utime and stime are fields 14
	// and 15, i.e. the 12th and 13th after the name.
	i := bytes.LastIndexByte(stat, ')')
	f := bytes.Fields(stat[i+1:])
	if i < 0 || len(f) < 13 {
		return s, fmt.Errorf("--pid %d: unexpected /proc/%d/stat", pid, pid)
	}
	ut, _ := strconv.ParseInt(string(f[11]), 10, 64)
	st, _ := strconv.ParseInt(string(f[12]), 10, 64)
	s.CPU = time.Duration(ut+st) * time.Second / clockTicks
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("--pid %d: %w", pid, err)
	}
	for line := range bytes.Lines(status) {
		if v, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			fs := bytes.Fields(v)
			if len(fs) > 0 {
				s.RSSKB, _ = strconv.ParseInt(string(fs[0]), 10, 64)
			}
		}
	}
	return s, nil
}

// selfCPU is the generator's own user+system CPU time (getrusage).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
