package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestManPageListsTheTable: `outbox help --man` is roff naming every verb
// of the table with its synopsis and summary; flags' hyphens are escaped
// so that man prints ASCII minus signs.
func TestManPageListsTheTable(t *testing.T) {
	code, out, errOut := runCLI("help", "--man")
	if code != exitOK || errOut != "" || !strings.HasPrefix(out, ".TH OUTBOX 8") {
		t.Fatalf("outbox help --man: exit %d, stderr %q, start %.40q", code, errOut, out)
	}
	for _, cmd := range commands() {
		if !strings.Contains(out, ".B outbox "+roff(cmd.synopsis())+"\n"+roff(cmd.summary)+"\n") {
			t.Errorf("man page lacks %q", cmd.synopsis())
		}
	}
	if !strings.Contains(out, `\-\-config FILE`) {
		t.Error(`man page does not escape "--config"`)
	}
}

// TestBashCompletion: the script parses in bash, completes the verbs of a
// group and a verb's flags from the table.
func TestBashCompletion(t *testing.T) {
	code, script, errOut := runCLI("help", "--bash-completion")
	if code != exitOK || errOut != "" {
		t.Fatalf("outbox help --bash-completion: exit %d, stderr %q", code, errOut)
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	for _, tc := range []struct{ words, want string }{
		{"outbox q", "queue"},
		{"outbox queue li", "list"},
		{"outbox queue list --st", "--state"},
		{"outbox serve --c", "--config"},
		{"outbox dkim keygen --ty", "--type"},
	} {
		probe := script + "\nCOMP_WORDS=(" + tc.words + "); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); _outbox; echo \"${COMPREPLY[*]}\"\n"
		got, err := exec.Command(bash, "-c", probe).CombinedOutput()
		if err != nil || strings.TrimSpace(string(got)) != tc.want {
			t.Errorf("completing %q: %q (%v), want %q", tc.words, got, err, tc.want)
		}
	}
}
