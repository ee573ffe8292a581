package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPackagedUnit: the repository's unit, as packaged, starts
// /usr/bin/outbox; a unit without the expected line is an error rather than
// a package whose service cannot start.
func TestPackagedUnit(t *testing.T) {
	unit, err := os.ReadFile("../../systemd/outbox.service")
	if err != nil {
		t.Fatal(err)
	}
	got, err := packagedUnit(unit)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got), "\nExecStart=/usr/bin/outbox serve --config /etc/outbox/outbox.toml\n") || strings.Contains(string(got), "/usr/local/bin") {
		t.Errorf("packaged unit does not start /usr/bin/outbox:\n%s", got)
	}
	if _, err := packagedUnit([]byte("[Service]\nExecStart=/opt/outbox serve\n")); err == nil {
		t.Error("a unit without ExecStart=/usr/local/bin/outbox was accepted")
	}
}

// TestNFPMConfig: the sample configuration is a conffile of mode 0640 in
// /etc/outbox, every repository file the package takes exists, and the
// maintainer scripts are wired.
func TestNFPMConfig(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	cfg := nfpmConfig(root, work, options{version: "1.0", arch: "arm64"})
	if cfg.Arch != "arm64" || cfg.Version != "1.0" || cfg.VersionSchema != "none" {
		t.Errorf("arch %q version %q schema %q", cfg.Arch, cfg.Version, cfg.VersionSchema)
	}
	dsts := map[string]nfpmContent{}
	for _, c := range cfg.Contents {
		dsts[c.Dst] = c
		if strings.HasPrefix(c.Src, root) {
			if _, err := os.Stat(c.Src); err != nil {
				t.Errorf("%s: %v", c.Dst, err)
			}
		}
	}
	if c := dsts["/etc/outbox/outbox.toml"]; c.Type != "config" || c.FileInfo == nil || c.FileInfo.Mode != 0o640 {
		t.Errorf("/etc/outbox/outbox.toml = %+v, want a conffile of mode 0640", c)
	}
	for _, dst := range []string{"/usr/bin/outbox", "/usr/lib/systemd/system/outbox.service", "/usr/lib/sysusers.d/outbox.conf", "/usr/share/man/man8/outbox.8.gz", "/usr/share/bash-completion/completions/outbox"} {
		if _, ok := dsts[dst]; !ok {
			t.Errorf("package lacks %s", dst)
		}
	}
	if cfg.Scripts.PostInstall == "" || cfg.Scripts.PreRemove == "" || cfg.Scripts.PostRemove == "" {
		t.Errorf("scripts = %+v", cfg.Scripts)
	}
}

// TestScripts: the maintainer scripts are written executable and parse as
// POSIX sh; postinst creates the user before handing it /etc/outbox.
func TestScripts(t *testing.T) {
	work := t.TempDir()
	if err := writeScripts(work); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"postinst", "prerm", "postrm"} {
		path := filepath.Join(work, "scripts", name)
		fi, err := os.Stat(path)
		if err != nil || fi.Mode()&0o111 == 0 {
			t.Fatalf("%s: %v, mode %v", name, err, fi)
		}
		if out, err := exec.Command("sh", "-n", path).CombinedOutput(); err != nil {
			t.Errorf("sh -n %s: %v\n%s", name, err, out)
		}
	}
	post, _ := os.ReadFile(filepath.Join(work, "scripts", "postinst"))
	if i, j := strings.Index(string(post), "systemd-sysusers"), strings.Index(string(post), "dpkg-statoverride --update"); i < 0 || j < 0 || i > j {
		t.Error("postinst does not run systemd-sysusers before giving /etc/outbox to the group")
	}
}

func TestDebianArch(t *testing.T) {
	for goarch, want := range map[string]string{"amd64": "amd64", "386": "i386", "ppc64le": "ppc64el", "arm64": "arm64"} {
		if got, ok := debianArch(goarch); !ok || got != want {
			t.Errorf("debianArch(%q) = %q, %v; want %q", goarch, got, ok, want)
		}
	}
	if _, ok := debianArch("wasm"); ok {
		t.Error("wasm accepted")
	}
}
