// Package config owns Outbox's configuration: the one TOML file read by
// `outbox serve --config FILE`, its defaults, and its validation.
//
// It is pure data plus loading and validation. Only cmd/outbox imports it;
// every other package takes a plain option struct that cmd fills from a
// Config. It therefore imports no other package of Outbox, and it builds
// nothing that runs (no tls.Config, no listeners, no resolver): it exposes
// parsed values — time.Duration, netip.Prefix, byte counts — that cmd copies
// into those option structs.
//
// Never imports: cmd/..., store/..., queue/..., delivery/..., mxresolve/....
//
// Contract:
//
//   - Default returns the embedded defaults; Load("") returns the same. The
//     defaults work for a newcomer running from the repository: the spool in
//     ./outbox-spool, one listener on 127.0.0.1:587, the admin socket beside
//     the spool, submission without AUTH from loopback only.
//   - Load reports unknown keys and invalid values as one *ValidationError
//     listing every problem at once, each naming its key
//     ("listen.submission[1].address: ..."). Only a TOML syntax or type error
//     stops decoding early; it names its line and key.
//   - Durations are TOML strings accepted by time.ParseDuration plus a
//     leading day count: "30s", "5m", "4000s", "5d", "1d12h". Sizes are an
//     integer count of bytes or a string with a unit: "25MiB", "512KiB",
//     "10MB" (KiB/MiB/GiB are powers of 1024, KB/MB/GB of 1000).
//   - Relative paths are relative to the daemon's working directory.
//   - Check goes further than Load for `outbox config check`: it parses the
//     certificates and keys and verifies the spool directory can be created.
//   - DKIM key files ([[dkim.domain.key]] key_file) are read and checked
//     by Load itself, like relay password files, so a bad key stops the
//     daemon at start-up and fails `outbox config check`: the key must be
//     PEM, RSA of at least 2048 bits or Ed25519, and not accessible to
//     other users (refused, not warned: group read is allowed for a
//     root-owned key read by the daemon's group). The parsed key is
//     DKIMKey.Signer — a value, like a parsed duration.
//   - LoadClient is for local clients of the daemon (sendmail): it decodes
//     the file over the defaults and reports unknown keys, but validates
//     nothing and reads none of the files named, which may be readable by
//     the service only.
//   - Warnings lists valid but likely wrong settings (a hostname that is
//     not a FQDN); they never stop Load, Check or the daemon.
//   - Files lists every file the configuration names, for
//     `outbox config check --as USER`.
package config
