package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// nfpmInfo is the part of nfpm's configuration (nfpm.Config, read as YAML)
// this package uses.
type nfpmInfo struct {
	Name          string        `json:"name"`
	Arch          string        `json:"arch"`
	Platform      string        `json:"platform"`
	Version       string        `json:"version"`
	VersionSchema string        `json:"version_schema"`
	Section       string        `json:"section"`
	Priority      string        `json:"priority"`
	Maintainer    string        `json:"maintainer"`
	Description   string        `json:"description"`
	Homepage      string        `json:"homepage"`
	Depends       []string      `json:"depends"`
	Contents      []nfpmContent `json:"contents"`
	Scripts       nfpmScripts   `json:"scripts"`
}

type nfpmContent struct {
	Src      string        `json:"src,omitempty"`
	Dst      string        `json:"dst"`
	Type     string        `json:"type,omitempty"` // "config": a conffile; "dir"
	FileInfo *nfpmFileInfo `json:"file_info,omitempty"`
}

type nfpmFileInfo struct {
	Mode os.FileMode `json:"mode"`
}

type nfpmScripts struct {
	PostInstall string `json:"postinstall"`
	PreRemove   string `json:"preremove"`
	PostRemove  string `json:"postremove"`
}

// nfpmConfig describes the package: repository files from root, generated
// ones from work (stage). Ownership is root's throughout: the group outbox
// does not exist before postinst runs systemd-sysusers, which then gives
// /etc/outbox to it (dpkg-statoverride).
func nfpmConfig(root, work string, o options) nfpmInfo {
	arch, _ := debianArch(o.arch)
	mode := func(m os.FileMode) *nfpmFileInfo { return &nfpmFileInfo{Mode: m} }
	return nfpmInfo{
		Name:          "outbox",
		Arch:          arch,
		Platform:      "linux",
		Version:       o.version,
		VersionSchema: "none", // a Debian version as given, not parsed as semver
		Section:       "mail",
		Priority:      "optional",
		Maintainer:    "Outbox developers <outbox@localhost>",
		Description: "durable outbound mail queue (MTA-lite)\n" +
			"Outbox accepts mail on an SMTP submission listener or as sendmail,\n" +
			"stores it durably before answering 250, and delivers it to the\n" +
			"recipients' mail exchangers or a relay, with DKIM signing, retries,\n" +
			"bounces and a queue CLI.",
		Homepage: "https://github.com/outbox-mta/outbox",
		// systemd-sysusers makes the user; the binary is static.
		Depends: []string{"systemd | systemd-standalone-sysusers"},
		Contents: []nfpmContent{
			{Src: filepath.Join(work, "outbox"), Dst: "/usr/bin/outbox", FileInfo: mode(0o755)},
			{Src: filepath.Join(work, "outbox.service"), Dst: "/usr/lib/systemd/system/outbox.service", FileInfo: mode(0o644)},
			{Src: filepath.Join(root, "systemd", "outbox.sysusers"), Dst: "/usr/lib/sysusers.d/outbox.conf", FileInfo: mode(0o644)},
			{Dst: "/etc/outbox", Type: "dir", FileInfo: mode(0o750)},
			{Src: filepath.Join(root, "systemd", "outbox.toml"), Dst: "/etc/outbox/outbox.toml", Type: "config", FileInfo: mode(0o640)},
			{Src: filepath.Join(work, "outbox.8.gz"), Dst: "/usr/share/man/man8/outbox.8.gz", FileInfo: mode(0o644)},
			{Src: filepath.Join(work, "outbox.bash"), Dst: "/usr/share/bash-completion/completions/outbox", FileInfo: mode(0o644)},
			{Src: filepath.Join(root, "README.md"), Dst: "/usr/share/doc/outbox/README.md", FileInfo: mode(0o644)},
			{Src: filepath.Join(root, "outbox.example.toml"), Dst: "/usr/share/doc/outbox/outbox.example.toml", FileInfo: mode(0o644)},
		},
		Scripts: nfpmScripts{
			PostInstall: filepath.Join(work, "scripts", "postinst"),
			PreRemove:   filepath.Join(work, "scripts", "prerm"),
			PostRemove:  filepath.Join(work, "scripts", "postrm"),
		},
	}
}

// moduleRoot is the directory of Outbox's go.mod, so the command works from
// any directory of the checkout.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := output(ctx, "go", "env", "GOMOD")
	if err != nil {
		return "", err
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errNotInModule
	}
	return filepath.Dir(gomod), nil
}

// defaultVersion is 0.0~gitYYYYMMDDhhmmss.COMMIT for the checkout's last
// commit (UTC), which sorts by commit time and below any 0.0 or later
// release; outside git, 0.0~dev.
func defaultVersion(ctx context.Context, root string) string {
	cmd := exec.CommandContext(ctx, "git", "log", "-1", "--format=%cd.%h", "--date=format-local:%Y%m%d%H%M%S")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "TZ=UTC")
	out, err := cmd.Output()
	if v := strings.TrimSpace(string(out)); err == nil && v != "" {
		return "0.0~git" + v
	}
	return "0.0~dev"
}
