// Command outbox-pkg builds Outbox's Debian package. From the repository:
//
//	go run ./cmd/outbox-pkg [-out DIR] [-version V] [-arch GOARCH]
//
// It builds the binary (static, -trimpath, with the commit recorded for
// `outbox version`), generates the man page and the bash completion from
// the binary's own verb table (`outbox help --man`, `outbox help
// --bash-completion`), and calls nfpm (github.com/goreleaser/nfpm/v2, run
// with `go run module@version`, so it is no dependency of Outbox's
// module) to write DIR/outbox_V_ARCH.deb. The package's path is the only
// line on stdout; progress goes to stderr.
//
// The package holds:
//
//	/usr/bin/outbox                          the binary
//	/usr/lib/systemd/system/outbox.service   systemd/outbox.service, ExecStart=/usr/bin/outbox
//	/usr/lib/sysusers.d/outbox.conf          systemd/outbox.sysusers
//	/etc/outbox/outbox.toml                  systemd/outbox.toml (a conffile, root:outbox 0640)
//	/usr/share/man/man8/outbox.8.gz          the man page
//	/usr/share/bash-completion/completions/outbox
//	/usr/share/doc/outbox/                   README.md, outbox.example.toml
//
// Its maintainer scripts (scripts/) create the system user with
// systemd-sysusers, give /etc/outbox to the group outbox with
// dpkg-statoverride (so a mode an administrator sets survives upgrades),
// and offer /usr/bin/outbox as the sendmail alternative (update-alternatives
// leaves another MTA's own /usr/sbin/sendmail file in place). The service is
// installed but neither enabled nor started: the configuration needs a
// hostname and a route first. Removing the package stops and disables it;
// purging keeps the spool (/var/lib/outbox) and the user, which may still
// hold mail.
//
// The version defaults to 0.0~gitYYYYMMDDhhmmss.COMMIT from the checkout's
// last commit, a Debian version that sorts by commit time.
package main
