// Command apidoc writes docs/api.md from docs/openapi.json: the prose of
// intro.md and outro.md around one section per operation, grouped by tag, and
// one table per object. Run it from the repository's root after
// `python3 docs/openapi.py`; a test fails when docs/api.md differs from what
// it writes.
package main

import (
	_ "embed"
	"flag"
	"fmt"
	"os"
)

//go:embed intro.md
var intro string

//go:embed outro.md
var outro string

func main() {
	spec := flag.String("spec", "docs/openapi.json", "the OpenAPI description to read")
	out := flag.String("out", "docs/api.md", "the Markdown file to write")
	flag.Parse()
	raw, err := os.ReadFile(*spec)
	if err == nil {
		var page []byte
		if page, err = Render(raw); err == nil {
			err = os.WriteFile(*out, page, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "apidoc:", err)
		os.Exit(1)
	}
}
