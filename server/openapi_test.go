package server_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/credits/credits/server"
)

// The OpenAPI description, loaded once for every test of this package.
var (
	specOnce   sync.Once
	spec       *openapi3.T
	specRouter routers.Router
	specErr    error
)

func openAPISpec(t testing.TB) (*openapi3.T, routers.Router) {
	t.Helper()
	specOnce.Do(func() {
		raw, err := os.ReadFile("openapi.json")
		if err != nil {
			specErr = err
			return
		}
		loader := openapi3.NewLoader()
		if spec, specErr = loader.LoadFromData(raw); specErr != nil {
			return
		}
		if specErr = spec.Validate(context.Background()); specErr != nil {
			return
		}
		// The router matches paths alone: servers names where a deployment
		// listens, which a test's requests do not (they have no host).
		paths := *spec
		paths.Servers = nil
		specRouter, specErr = legacy.NewRouter(&paths)
	})
	if specErr != nil {
		t.Fatalf("openapi.json: %v", specErr)
	}
	return spec, specRouter
}

// checkAgainstSpec fails the test when a /v1 answer is not what the OpenAPI
// description says: an undescribed route, status or shape.
func checkAgainstSpec(t testing.TB, req *http.Request, status int, header http.Header, body []byte) {
	t.Helper()
	if !strings.HasPrefix(req.URL.Path, "/v1/") || req.URL.Path == "/v1/openapi.json" || status == http.StatusMethodNotAllowed {
		return
	}
	_, router := openAPISpec(t)
	probe := req.Clone(context.Background())
	probe.URL.Scheme, probe.URL.Host = "", ""
	route, params, err := router.FindRoute(probe)
	if err != nil {
		if status == http.StatusNotFound {
			return // a path that does not exist: no route to describe
		}
		t.Errorf("%s %s answered %d but is not in openapi.json: %v", req.Method, req.URL.Path, status, err)
		return
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: probe, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}},
		Status: status, Header: header, Body: io.NopCloser(bytes.NewReader(body)),
	}
	if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
		t.Errorf("%s %s answered %d, which openapi.json does not describe: %v\n%s", req.Method, req.URL.Path, status, err, body)
	}
}

// TestOpenAPIDescribesEveryRoute: every /v1 route is in openapi.json, which
// is what the server serves and what docs/ keeps.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	t.Parallel()
	doc, _ := openAPISpec(t)
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	for _, pattern := range server.APIPatterns() {
		method, path, _ := strings.Cut(pattern, " ")
		item := doc.Paths.Find(path)
		if item == nil || item.GetOperation(method) == nil {
			t.Errorf("%s is not described in openapi.json", pattern)
		}
	}
	served, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	kept, err := os.ReadFile("../docs/openapi.json")
	if err != nil || !bytes.Equal(served, kept) {
		t.Errorf("docs/openapi.json differs from server/openapi.json (%v): run python3 docs/openapi.py", err)
	}
	h := newHarness(t)
	if r := h.do("GET", "/v1/openapi.json", "", nil); r.status != 200 || !bytes.Equal(r.raw, served) {
		t.Errorf("GET /v1/openapi.json: %d", r.status)
	}
}

// TestOpenAPIDescribesOnlyRoutes: every operation in openapi.json is a route
// the server registers (the other half of TestOpenAPIDescribesEveryRoute), so
// the generated clients and docs/api.md name no route that does not exist.
func TestOpenAPIDescribesOnlyRoutes(t *testing.T) {
	t.Parallel()
	doc, _ := openAPISpec(t)
	registered := map[string]bool{}
	for _, pattern := range server.APIPatterns() {
		registered[pattern] = true
	}
	described := 0
	for path, item := range doc.Paths.Map() {
		for method, operation := range item.Operations() {
			described++
			if !registered[method+" "+path] {
				t.Errorf("openapi.json describes %s %s (%s), which the server does not register", method, path, operation.OperationID)
			}
			if operation.OperationID == "" {
				t.Errorf("%s %s has no operationId", method, path)
			}
		}
	}
	if described != len(registered) {
		t.Errorf("openapi.json describes %d operations, the server registers %d routes", described, len(registered))
	}
}
