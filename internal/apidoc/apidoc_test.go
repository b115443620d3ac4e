package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestAPIMarkdownIsGenerated: docs/api.md is what apidoc writes from
// docs/openapi.json, so it names every route the server registers (the server
// tests check openapi.json against the routes) and no other.
func TestAPIMarkdownIsGenerated(t *testing.T) {
	t.Parallel()
	spec, err := os.ReadFile("../../docs/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	want, err := Render(spec)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("docs/api.md is not what docs/openapi.json makes: run `go run ./internal/apidoc` from the repository's root")
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	spec := `{"tags": [{"name": "T", "description": "the tag"}],
	  "paths": {"/v1/things/{id}": {"post": {"operationId": "makeThing", "summary": "Make a thing", "tags": ["T"],
	    "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
	                   {"name": "status", "in": "query", "schema": {"type": "string", "enum": ["a", "b|c"]}}],
	    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object",
	      "properties": {"n": {"type": "integer"}}, "required": ["n"]}}}},
	    "responses": {"201": {"description": "made", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
	                  "404": {"description": "not found"}}}}},
	  "components": {"schemas": {"Thing": {"type": "object", "properties": {"at": {"type": ["string", "null"], "format": "date-time"},
	    "tags": {"type": "array", "items": {"type": "string"}}}, "required": ["tags"]}}}}`
	page, err := Render([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"## T\n\nthe tag\n",
		"### Make a thing\n\n`POST /v1/things/{id}` · `makeThing`\n",
		"| `status` | query | one of `a`, `b\\|c` |  |",
		"Body:\n\n| field | type | required |\n| --- | --- | --- |\n| `n` | integer | yes |",
		"Answers 201 [Thing](#thing). [Errors](#errors): 404.",
		"| `at` | time or null |  |\n| `tags` | list of string | yes |",
	} {
		if !strings.Contains(string(page), want) {
			t.Errorf("the page lacks %q:\n%s", want, page)
		}
	}
	for name, bad := range map[string]string{
		"no operationId": `{"paths": {"/x": {"get": {"tags": ["T"]}}}}`,
		"unknown tag":    `{"tags": [], "paths": {"/x": {"get": {"operationId": "x", "tags": ["T"]}}}}`,
		"not JSON":       `{`,
	} {
		if _, err := Render([]byte(bad)); err == nil {
			t.Errorf("%s: rendered, want an error", name)
		}
	}
}
