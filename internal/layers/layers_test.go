// Package layers holds one test: that the packages import each other only
// downwards, as the package map in docs/ARCHITECTURE.md draws them.
package layers

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/switchboard-rt/switchboard/"

// binary is the rank of commands (package main): they may import anything.
const binary = 8

// rank places each library package in the layers of docs/ARCHITECTURE.md's
// package map, lowest first. A package may import only packages of a lower
// rank, except that packages of rank 0 (config and the small internal
// helpers) may import each other.
func rank(pkg string) (int, bool) {
	switch {
	case strings.HasPrefix(pkg, "cmd/"):
		return binary, true
	case pkg == "internal/loadgen", pkg == "internal/testutil", pkg == "internal/edgetest", pkg == "internal/adminapi":
		return 7, true // the load generator, the tests' helpers and the admin API, built on everything
	case pkg == "config" || strings.HasPrefix(pkg, "internal/"):
		return 0, true
	case pkg == "appstore":
		return 1, true // where apps are kept: config only
	case pkg == "appstore/pgstore":
		return 2, true // a store: appstore and config
	case pkg == "ws":
		return 1, true
	case pkg == "bus":
		return 2, true
	case pkg == "bus/redis", pkg == "hub":
		return 3, true // neither imports the other
	case pkg == "dialect":
		return 4, true
	case pkg == "console":
		return 4, true // reads the hub; the binary fills its interfaces from the dialects
	case strings.HasPrefix(pkg, "dialect/"):
		return 5, true // no dialect imports another
	case pkg == "server":
		return 6, true // a dialect never imports the server
	}
	return 0, false
}

// TestImportsGoDown fails when a package imports one above it or beside it
// (a store importing the hub, a dialect importing another dialect or the
// server).
func TestImportsGoDown(t *testing.T) {
	imports, commands := importsOf(t, filepath.Join("..", ".."))
	for _, pkg := range []string{"ws", "bus", "bus/redis", "hub", "dialect", "dialect/pusher", "server", "config", "console"} {
		if _, ok := imports[pkg]; !ok {
			t.Errorf("package %s not found", pkg)
		}
	}
	for pkg, imps := range imports {
		r, ok := rank(pkg)
		if commands[pkg] {
			r, ok = binary, true
		}
		if !ok {
			continue // e2e, examples: not part of the map
		}
		for _, imp := range imps {
			ri, ok := rank(imp)
			switch {
			case !ok:
				t.Errorf("%s imports %s, which is not in the package map", pkg, imp)
			case ri > r || ri == r && r != 0:
				t.Errorf("%s (layer %d) imports %s (layer %d): imports go down only", pkg, r, imp, ri)
			}
		}
	}
}

// importsOf returns, for every package directory under root, the imports
// of this module made by its non-test Go files, as paths below the module,
// and which of the packages are commands (package main).
func importsOf(t *testing.T, root string) (imports map[string][]string, commands map[string]bool) {
	t.Helper()
	out, commands := map[string][]string{}, map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(rel)
		if f.Name.Name == "main" {
			commands[pkg] = true
		}
		if _, ok := out[pkg]; !ok {
			out[pkg] = nil
		}
		for _, imp := range f.Imports {
			if p, ok := strings.CutPrefix(strings.Trim(imp.Path.Value, `"`), module); ok {
				out[pkg] = append(out[pkg], p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("reading the tree: %v", err)
	}
	return out, commands
}
