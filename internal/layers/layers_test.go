// Package layers holds one test: that the packages import each other only
// downwards, as the package map in docs/ARCHITECTURE.md draws them.
package layers

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/switchboard-rt/switchboard/"

// allowed lists, for each package below the dialects, the packages of this
// module its non-test files may import. A package not listed here may import
// anything but cmd/.
var allowed = map[string][]string{
	"ws":                {"internal/sockfd"},
	"bus":               {},
	"bus/redis":         {"bus"},
	"hub":               {"bus", "ws"},
	"config":            {},
	"internal/sockfd":   {},
	"internal/localreq": {},
}

// TestImportsGoDown fails when a package imports one above it (a store
// importing the hub, the hub importing a dialect) or when a dialect imports
// another dialect or the server.
func TestImportsGoDown(t *testing.T) {
	root := filepath.Join("..", "..")
	imports := importsOf(t, root)
	for pkg, imps := range imports {
		for _, imp := range imps {
			if strings.HasPrefix(imp, "cmd/") {
				t.Errorf("%s imports %s", pkg, imp)
			}
			if ok, listed := allowed[pkg]; listed && !slices.Contains(ok, imp) {
				t.Errorf("%s imports %s; it may import only %v of this module", pkg, imp, ok)
			}
			if d, ok := strings.CutPrefix(pkg, "dialect/"); ok {
				if strings.HasPrefix(imp, "dialect/") && !strings.HasPrefix(imp, "dialect/"+d) {
					t.Errorf("%s imports another dialect, %s", pkg, imp)
				}
				if imp == "server" {
					t.Errorf("%s imports server: what a dialect needs of it is in package dialect", pkg)
				}
			}
			if pkg == "dialect" && strings.HasPrefix(imp, "dialect/") {
				t.Errorf("the dialect contract imports a dialect, %s", imp)
			}
		}
	}
	for pkg := range allowed {
		if _, ok := imports[pkg]; !ok {
			t.Errorf("package %s not found: update the table", pkg)
		}
	}
}

// importsOf returns, for every package directory under root, the imports
// of this module made by its non-test Go files, as paths below the module.
func importsOf(t *testing.T, root string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
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
	return out
}
