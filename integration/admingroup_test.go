package integration

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
)

// sysUser is a user and group made for one test with useradd/groupadd.
type sysUser struct {
	name     string
	uid, gid string
}

// makeUser creates a system user in a new group of its own and in the
// groups extra, removing both at the end of the test.
func makeUser(t *testing.T, name string, extra ...string) sysUser {
	t.Helper()
	args := []string{"--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group"}
	if len(extra) > 0 {
		args = append(args, "--groups", strings.Join(extra, ","))
	}
	if out, err := exec.Command("useradd", append(args, name)...).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() { exec.Command("userdel", name).Run() })
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return sysUser{name: name, uid: u.Uid, gid: u.Gid}
}

func makeGroup(t *testing.T, name string) {
	t.Helper()
	if out, err := exec.Command("groupadd", "--system", name).CombinedOutput(); err != nil {
		t.Fatalf("groupadd %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() { exec.Command("groupdel", name).Run() })
}

// runAs runs the outbox CLI as u, with u's groups, through setpriv.
func runAs(t *testing.T, u sysUser, args ...string) (string, error) {
	t.Helper()
	full := append([]string{"--reuid", u.uid, "--regid", u.gid, "--init-groups", binary}, args...)
	out, err := exec.Command("setpriv", full...).CombinedOutput()
	return string(out), err
}

// TestAdminGroupAccess: a non-root member of admin.group lists and holds
// without sudo, and the daemon logs the hold with the member's uid; a
// member of admin.read_only_group lists, cats and reads the age table but
// is refused a delete; a user in
// neither group is refused by its credentials although the socket's mode
// (0666, two groups) lets it connect.
func TestAdminGroupAccess(t *testing.T) {
	if os.Getuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI runs as root; this test creates users and groups")
		}
		t.Skip("needs root to create users and groups")
	}
	needTool(t, "setpriv")
	needTool(t, "useradd")
	suffix := make([]byte, 3)
	rand.Read(suffix)
	tag := hex.EncodeToString(suffix)
	adminGroup, roGroup := "obxadm"+tag, "obxro"+tag
	makeGroup(t, adminGroup)
	makeGroup(t, roGroup)
	op := makeUser(t, "obxop"+tag, adminGroup)
	viewer := makeUser(t, "obxvw"+tag, roGroup)
	stranger := makeUser(t, "obxst"+tag)

	// The CLI binary and the socket must be reachable by the users.
	if err := os.Chmod(filepath.Dir(binary), 0o755); err != nil {
		t.Fatal(err)
	}
	sockDir, err := os.MkdirTemp("", "outbox-admin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	if err := os.Chmod(sockDir, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(sockDir, "admin.sock")

	dir := t.TempDir()
	spool := filepath.Join(dir, "spool")
	seedDeferred(t, spool, "group.example", 3)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	cfg := pausedConfig(spool, addr) + fmt.Sprintf("[admin]\nsocket = %q\ngroup = %q\nread_only_group = %q\n", sock, adminGroup, roGroup)
	d := startDaemon(t, dir, cfg, addr)
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o666 {
		t.Fatalf("socket %v, %v; want mode 0666 with two groups", fi, err)
	}

	out, err := runAs(t, op, "queue", "list", "--socket", sock)
	if err != nil || strings.Count(out, "group.example") != 3 {
		t.Fatalf("admin group member: queue list: %v\n%s", err, out)
	}
	if out, err := runAs(t, op, "queue", "hold", "--all", "--domain", "group.example", "--socket", sock); err != nil || out != "held 3 messages\n" {
		t.Fatalf("admin group member: queue hold: %v\n%s", err, out)
	}
	waitFor(t, "the hold logged with the member's uid", 10e9, func() bool {
		return strings.Contains(d.log.String(), "op=bulk peer_uid="+op.uid)
	})

	if out, err := runAs(t, viewer, "queue", "list", "--socket", sock); err != nil || strings.Count(out, "group.example") != 3 {
		t.Fatalf("read-only member: queue list: %v\n%s", err, out)
	}
	// The read-only verbs: cat, stats --ages, a filtered list.
	id := d.queueJSON()[0]["id"].(string)
	if out, err := runAs(t, viewer, "queue", "cat", id, "--headers", "--socket", sock); err != nil || !strings.Contains(out, "Subject: bulk") {
		t.Errorf("read-only member: queue cat: %v\n%s", err, out)
	}
	if out, err := runAs(t, viewer, "queue", "stats", "--ages", "--socket", sock); err != nil || !strings.Contains(out, "group.example") || !strings.Contains(out, "1280+") {
		t.Errorf("read-only member: queue stats --ages: %v\n%s", err, out)
	}
	if out, err := runAs(t, viewer, "queue", "list", "--sender", "nobody@here.test", "--socket", sock); err != nil || out != "no messages match\n" {
		t.Errorf("read-only member: filtered list: %v, %q", err, out)
	}
	out, err = runAs(t, viewer, "queue", "delete", "--all", "--yes", "--socket", sock)
	if err == nil || !strings.Contains(out, "permission denied") {
		t.Fatalf("read-only member: queue delete: %v, %q; want permission denied", err, out)
	}
	out, err = runAs(t, stranger, "queue", "list", "--socket", sock)
	if err == nil || !strings.Contains(out, "permission denied") {
		t.Fatalf("stranger: queue list: %v, %q; want permission denied", err, out)
	}
	if n := count(t, d, "held"); n != 3 {
		t.Errorf("%d messages held after the refused delete, want 3", n)
	}
}
