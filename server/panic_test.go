package server_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/testkit"
	"github.com/credits/credits/server"
)

// TestPanicAnswers500: a handler's panic answers 500 with the request id
// the log names, instead of dropping the connection.
func TestPanicAnswers500(t *testing.T) {
	t.Parallel()
	db, _ := testkit.OpenSQLite(t)
	var logs bytes.Buffer
	srv := &server.Server{Service: credits.NewService(db), APIKey: apiKey, Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		Extra: map[string]http.Handler{"GET /boom": http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("a bug") })}}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	resp, err := http.Get(ts.URL + "/boom")
	if err != nil {
		t.Fatalf("the connection dropped: %v", err)
	}
	defer resp.Body.Close()
	var body struct {
		Error struct{ Code, Message, RequestID string }
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	id := resp.Header.Get("Request-Id")
	if resp.StatusCode != 500 || body.Error.Code != credits.EINTERNAL || id == "" {
		t.Errorf("answered %d %+v (request %q)", resp.StatusCode, body, id)
	}
	if !strings.Contains(logs.String(), `"request panicked"`) || !strings.Contains(logs.String(), id) || !strings.Contains(logs.String(), "a bug") {
		t.Errorf("log %s", logs.String())
	}
}
