package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
)

// nfpmModule is the packager, run with `go run`: a pinned version, so every
// build of the package is made by the same code.
const nfpmModule = "github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2"

//go:embed scripts
var scripts embed.FS

// debianArch maps the GOARCH values this builds for to Debian
// architectures (dpkg-architecture(1)).
func debianArch(goarch string) (string, bool) {
	switch goarch {
	case "amd64", "arm64", "riscv64", "s390x":
		return goarch, true
	case "386":
		return "i386", true
	case "ppc64le":
		return "ppc64el", true
	}
	return "", false
}

// options are the command line.
type options struct {
	out     string // directory for the .deb
	version string // Debian version
	arch    string // GOARCH
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "outbox-pkg:", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("outbox-pkg", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.out, "out", "dist", "directory to write the .deb to")
	fs.StringVar(&o.version, "version", "", "package version (default: 0.0~gitTIME.COMMIT of the last commit)")
	fs.StringVar(&o.arch, "arch", runtime.GOARCH, "target GOARCH: amd64, arm64, 386, riscv64, ppc64le or s390x")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if _, ok := debianArch(o.arch); !ok {
		return fmt.Errorf("-arch %q: not one of amd64, arm64, 386, riscv64, ppc64le, s390x", o.arch)
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	if o.version == "" {
		o.version = defaultVersion(ctx, root)
	}
	work, err := os.MkdirTemp("", "outbox-pkg-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if err := stage(ctx, root, work, o, stderr); err != nil {
		return err
	}
	deb, err := pack(ctx, root, work, o, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, deb)
	return nil
}

// stage writes into work everything the package holds that is not a file
// of the repository as it is: the binary, the unit for /usr/bin, the man
// page, the completion and the maintainer scripts.
func stage(ctx context.Context, root, work string, o options, stderr io.Writer) error {
	fmt.Fprintf(stderr, "outbox-pkg: building outbox %s for linux/%s\n", o.version, o.arch)
	bin := filepath.Join(work, "outbox")
	if err := goBuild(ctx, root, bin, o.arch, stderr); err != nil {
		return err
	}
	gen := bin // runs the verb table's generators
	if o.arch != runtime.GOARCH || runtime.GOOS != "linux" {
		gen = filepath.Join(work, "outbox-host")
		if err := goBuild(ctx, root, gen, "", stderr); err != nil {
			return err
		}
	}
	man, err := output(ctx, gen, "help", "--man")
	if err != nil {
		return err
	}
	if err := writeGzip(filepath.Join(work, "outbox.8.gz"), man); err != nil {
		return err
	}
	completion, err := output(ctx, gen, "help", "--bash-completion")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(work, "outbox.bash"), completion, 0o644); err != nil {
		return err
	}
	unit, err := os.ReadFile(filepath.Join(root, "systemd", "outbox.service"))
	if err != nil {
		return err
	}
	unit, err = packagedUnit(unit)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(work, "outbox.service"), unit, 0o644); err != nil {
		return err
	}
	return writeScripts(work)
}

// packagedUnit is the repository's unit with the binary at /usr/bin, where
// the package puts it (the unit names /usr/local/bin for a hand install).
func packagedUnit(unit []byte) ([]byte, error) {
	const from, to = "ExecStart=/usr/local/bin/outbox ", "ExecStart=/usr/bin/outbox "
	if !bytes.Contains(unit, []byte(from)) {
		return nil, fmt.Errorf("systemd/outbox.service: no %q line to point at /usr/bin", from)
	}
	return bytes.ReplaceAll(unit, []byte(from), []byte(to)), nil
}

// goBuild builds a static outbox for linux/arch (arch "": this machine).
// -buildvcs=auto overrides a GOFLAGS=-buildvcs=false, so the binary
// records its commit when built in a checkout.
func goBuild(ctx context.Context, root, out, arch string, stderr io.Writer) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=auto", "-o", out, "./cmd/outbox")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if arch != "" {
		cmd.Env = append(cmd.Env, "GOOS=linux", "GOARCH="+arch)
	}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	return nil
}

// output runs a command and returns its stdout; its stderr is in the error.
func output(ctx context.Context, name string, args ...string) ([]byte, error) {
	var errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stderr = &errOut
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", filepath.Base(name), strings.Join(args, " "), err, errOut.String())
	}
	return out, nil
}

func writeGzip(path string, data []byte) error {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return err
	}
	if _, err := zw.Write(data); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// writeScripts copies the maintainer scripts into work/scripts.
func writeScripts(work string) error {
	dir := filepath.Join(work, "scripts")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	for _, name := range []string{"postinst", "prerm", "postrm"} {
		data, err := scripts.ReadFile("scripts/" + name)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// pack writes nfpm's configuration and runs it; it returns the .deb's path.
func pack(ctx context.Context, root, work string, o options, stderr io.Writer) (string, error) {
	cfg, err := json.MarshalIndent(nfpmConfig(root, work, o), "", "  ")
	if err != nil {
		return "", err
	}
	// JSON is YAML, which nfpm reads.
	cfgPath := filepath.Join(work, "nfpm.yaml")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		return "", err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return "", err
	}
	arch, _ := debianArch(o.arch)
	deb, err := filepath.Abs(filepath.Join(o.out, fmt.Sprintf("outbox_%s_%s.deb", o.version, arch)))
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "go", "run", nfpmModule, "package", "--config", cfgPath, "--packager", "deb", "--target", deb)
	cmd.Dir = work // outside the module: go run module@version ignores it anyway
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("nfpm: %w", err)
	}
	if _, err := os.Stat(deb); err != nil {
		return "", errors.New("nfpm wrote no " + deb)
	}
	return deb, nil
}

var errNotInModule = errors.New("not inside Outbox's module: run from the repository (go run ./cmd/outbox-pkg)")
