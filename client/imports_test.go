package client_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImportsOnlyWhatApplicationsNeed: applications import this package, so
// it and the generated package import the standard library, the generated
// code's runtime and creditswebhook, never the server or the domain.
func TestImportsOnlyWhatApplicationsNeed(t *testing.T) {
	t.Parallel()
	allowed := []string{"github.com/oapi-codegen/runtime", "github.com/credits/credits/client", "github.com/credits/credits/creditswebhook"}
	files, _ := filepath.Glob("*.go")
	generated, _ := filepath.Glob("api/*.go")
	for _, name := range append(files, generated...) {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, spec := range f.Imports {
			path, _ := strconv.Unquote(spec.Path.Value)
			if !strings.Contains(strings.Split(path, "/")[0], ".") {
				continue // the standard library
			}
			ok := false
			for _, prefix := range allowed {
				ok = ok || path == prefix || strings.HasPrefix(path, prefix+"/")
			}
			if !ok {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
	if len(files) == 0 || len(generated) == 0 {
		t.Fatal("no files read")
	}
}
