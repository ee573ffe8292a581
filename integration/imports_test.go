package integration

import (
	"bytes"
	"encoding/json"
	"errors"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The import rules of the module are written once, in each package's doc
// comment, as lines a reader sees beside the prose that explains them:
//
//	// Never imports: config, queue/..., go.etcd.io/bbolt.
//	// Never imports directly: delivery.
//
// "Never imports" holds for everything the package compiles in: neither the
// package nor anything it imports, however indirectly, is on the list (the
// Deps of `go list`). "Never imports directly" holds for the package's own
// import declarations only (its Imports), for a package that may reach the
// named one through another: the queue's maintenance jobs use the queue,
// which uses delivery's types, but call nothing of delivery themselves.
//
// A name without a dot in its first element is a package of this module,
// relative to its root ("queue/dsn"); any other name is a full import path
// ("go.etcd.io/bbolt", "net"). "X/..." is X and every package below it. A
// declaration may wrap over several comment lines and ends with a period.
//
// TestImportRules holds every package to its declaration; a package that
// must declare and does not fails too (see mustDeclare).

// goPackage is the part of `go list -json` the rules need.
type goPackage struct {
	ImportPath string
	Name       string
	Dir        string
	GoFiles    []string
	Imports    []string
	Deps       []string
}

// importRule is one declaration: the packages named, and whether they are
// forbidden only as direct imports.
type importRule struct {
	direct bool
	names  []string
}

func TestImportRules(t *testing.T) {
	module, pkgs := listModule(t)
	known := map[string]bool{}
	for _, p := range pkgs {
		known[p.ImportPath] = true
		for _, d := range p.Deps {
			known[d] = true
		}
	}
	for _, p := range pkgs {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		doc, err := packageDoc(p)
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		rules, err := parseImportRules(doc)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		if len(rules) == 0 {
			if mustDeclare(p) {
				t.Errorf("%s: its package comment declares no \"Never imports:\" rule", rel)
			}
			continue
		}
		for _, r := range rules {
			for _, name := range r.names {
				path := resolveName(module, name, pkgs)
				if !matchesAny(path, known) {
					t.Errorf("%s: rule names %q, which matches no package of the build", rel, name)
				}
				have, kind := p.Deps, "imports (through its imports)"
				if r.direct {
					have, kind = p.Imports, "imports directly"
				}
				for _, imp := range have {
					if matchPath(path, imp) {
						t.Errorf("%s %s %s, which its package comment forbids (%q)", rel, kind, strings.TrimPrefix(imp, module+"/"), name)
					}
				}
			}
		}
	}
}

// mustDeclare says which packages have to state their import rules: every
// package of the product. Commands (package main) wire the others and are
// free to import anything; test doubles (package names ending in "test")
// import what they fake; a package of tests only (no code but doc.go)
// compiles nothing in.
func mustDeclare(p goPackage) bool {
	switch {
	case p.Name == "main", strings.HasSuffix(p.Name, "test"):
		return false
	case len(p.GoFiles) == 1 && p.GoFiles[0] == "doc.go":
		return false
	}
	return true
}

func TestParseImportRules(t *testing.T) {
	tests := []struct {
		doc  string
		want []importRule
		err  bool
	}{
		{doc: "Package x does y.\n", want: nil},
		{doc: "Never imports: config, queue/..., go.etcd.io/bbolt.\n", want: []importRule{{names: []string{"config", "queue/...", "go.etcd.io/bbolt"}}}},
		{doc: "Prose.\n\nNever imports: store, queue,\ndelivery.\nNever imports directly: net.\n", want: []importRule{
			{names: []string{"store", "queue", "delivery"}},
			{direct: true, names: []string{"net"}},
		}},
		{doc: "Never imports: store, queue\n\nMore prose.", err: true},
		{doc: "Never imports: store,, queue.\n", err: true},
		{doc: "Never imports: .\n", err: true},
	}
	for _, tt := range tests {
		got, err := parseImportRules(tt.doc)
		if (err != nil) != tt.err {
			t.Errorf("parseImportRules(%q) error = %v, want error %v", tt.doc, err, tt.err)
			continue
		}
		if !tt.err && !slices.EqualFunc(got, tt.want, func(a, b importRule) bool {
			return a.direct == b.direct && slices.Equal(a.names, b.names)
		}) {
			t.Errorf("parseImportRules(%q) = %+v, want %+v", tt.doc, got, tt.want)
		}
	}
}

func TestMatchPath(t *testing.T) {
	tests := []struct {
		rule, path string
		want       bool
	}{
		{"m/queue", "m/queue", true},
		{"m/queue", "m/queue/dsn", false},
		{"m/queue/...", "m/queue", true},
		{"m/queue/...", "m/queue/dsn", true},
		{"m/queue/...", "m/queuex", false},
		{"net", "net/netip", false},
	}
	for _, tt := range tests {
		if got := matchPath(tt.rule, tt.path); got != tt.want {
			t.Errorf("matchPath(%q, %q) = %v, want %v", tt.rule, tt.path, got, tt.want)
		}
	}
}

// listModule runs `go list -json` on every package of the module that
// holds this one, and returns the module path and the packages.
func listModule(t *testing.T) (string, []goPackage) {
	t.Helper()
	gobin := needTool(t, "go")
	modOut, err := exec.Command(gobin, "list", "-m").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	module := strings.TrimSpace(string(modOut))
	cmd := exec.Command(gobin, "list", "-json", module+"/...")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list -json: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list -json: %v", err)
	}
	var pkgs []goPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p goPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding go list -json: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d packages in %s; expected the whole module", len(pkgs), module)
	}
	return module, pkgs
}

// packageDoc returns the package's doc comment, from whichever of its files
// carries it (doc.go by convention).
func packageDoc(p goPackage) (string, error) {
	fset := token.NewFileSet()
	var doc strings.Builder
	for _, name := range p.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			return "", err
		}
		if f.Doc != nil {
			doc.WriteString(f.Doc.Text())
		}
	}
	return doc.String(), nil
}

// parseImportRules finds the declarations in a doc comment's text.
func parseImportRules(doc string) ([]importRule, error) {
	var rules []importRule
	lines := strings.Split(doc, "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		var r importRule
		var rest string
		var ok bool
		if rest, ok = strings.CutPrefix(line, "Never imports directly:"); ok {
			r.direct = true
		} else if rest, ok = strings.CutPrefix(line, "Never imports:"); !ok {
			continue
		}
		for !strings.HasSuffix(rest, ".") {
			i++
			if i == len(lines) || strings.TrimSpace(lines[i]) == "" {
				return nil, errors.New("an import rule does not end with a period: " + line)
			}
			rest += " " + strings.TrimSpace(lines[i])
		}
		for name := range strings.SplitSeq(strings.TrimSuffix(rest, "."), ",") {
			name = strings.TrimSpace(name)
			if name == "" || strings.ContainsAny(name, " \t") {
				return nil, errors.New("an import rule has an empty or malformed name: " + line)
			}
			r.names = append(r.names, name)
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// resolveName turns a name of a rule into an import path (or pattern): a
// name is the module's when it matches one of the module's packages
// relative to its root, and a full import path otherwise (so "net" is the
// standard library's, and a misspelt name matches nothing at all).
func resolveName(module, name string, pkgs []goPackage) string {
	local := module + "/" + name
	for _, p := range pkgs {
		if matchPath(local, p.ImportPath) {
			return local
		}
	}
	return name
}

// matchPath reports whether an import path matches a rule's path, where
// "X/..." matches X and everything below it.
func matchPath(rule, path string) bool {
	if prefix, ok := strings.CutSuffix(rule, "/..."); ok {
		return path == prefix || strings.HasPrefix(path, prefix+"/")
	}
	return path == rule
}

func matchesAny(rule string, paths map[string]bool) bool {
	for p := range paths {
		if matchPath(rule, p) {
			return true
		}
	}
	return false
}
