package main

import (
	"os"
	"regexp"
	"strconv"
	"testing"
)

// TestUnitDoesNotRestartOnDamage: the unit names serve's exit status for a
// damaged spool in RestartPreventExitStatus=, so systemd does not loop
// restarting a daemon that will meet the same damage.
func TestUnitDoesNotRestartOnDamage(t *testing.T) {
	unit, err := os.ReadFile("../../systemd/outbox.service")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^RestartPreventExitStatus=(.*)$`).FindSubmatch(unit)
	if m == nil {
		t.Fatal("outbox.service has no RestartPreventExitStatus=")
	}
	for _, f := range regexp.MustCompile(`\S+`).FindAll(m[1], -1) {
		if string(f) == strconv.Itoa(exitDamaged) {
			return
		}
	}
	t.Errorf("RestartPreventExitStatus=%s does not name exitDamaged (%d)", m[1], exitDamaged)
}
