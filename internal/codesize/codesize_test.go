// Package codesize checks rules of the code's shape that review would
// otherwise have to: no production function is longer than a screen, and
// no conformance test is left out of the suite.
package codesize

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// maxFunctionLines bounds a production function, from its func line to its
// closing brace.
const maxFunctionLines = 70

// testSupport are the packages of tests that are not _test.go files (the
// store conformance suite): their functions are tests, and may read as one
// story each.
var testSupport = []string{"storetest"}

func TestProductionFunctionsAreShort(t *testing.T) {
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "testdata" || isTestSupport(path, root)) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		if ast.IsGenerated(f) {
			return nil
		}
		checked++
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			if n := fset.Position(fn.End()).Line - fset.Position(fn.Pos()).Line + 1; n > maxFunctionLines {
				rel, _ := filepath.Rel(root, path)
				t.Errorf("%s: %s is %d lines, over %d: split it", rel, fn.Name.Name, n, maxFunctionLines)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 100 {
		t.Fatalf("checked %d files: the walk missed the module", checked)
	}
}

func isTestSupport(path, root string) bool {
	rel, err := filepath.Rel(root, path)
	if err != nil {
		return false
	}
	for _, p := range testSupport {
		if rel == p {
			return true
		}
	}
	return false
}

// TestConformanceTestsAreRegistered finds the store conformance suite's
// tests (storetest's functions test…(t *testing.T, …)) that nothing
// refers to: a test written but left out of every list never runs.
func TestConformanceTestsAreRegistered(t *testing.T) {
	fset := token.NewFileSet()
	dir := filepath.Join("..", "..", "storetest")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]token.Position{}
	used := map[string]bool{}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		decls := map[*ast.Ident]bool{}
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && strings.HasPrefix(fn.Name.Name, "test") && takesT(fn) {
				declared[fn.Name.Name] = fset.Position(fn.Pos())
				decls[fn.Name] = true
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if id, ok := n.(*ast.Ident); ok && !decls[id] {
				used[id.Name] = true
			}
			return true
		})
	}
	if len(declared) < 50 {
		t.Fatalf("found %d conformance tests: the parse missed them", len(declared))
	}
	for name, pos := range declared {
		if !used[name] {
			t.Errorf("%s: %s is in no list of tests, so it never runs", pos, name)
		}
	}
}

// takesT reports whether fn's first parameter is a *testing.T.
func takesT(fn *ast.FuncDecl) bool {
	params := fn.Type.Params.List
	if len(params) == 0 {
		return false
	}
	star, ok := params[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "T"
}
