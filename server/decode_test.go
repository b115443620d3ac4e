package server

import (
	"fmt"
	"testing"
)

// TestFieldsReadOnceAsByTokens checks that checkFields answers as the
// token walk (walkFields) does, on bodies it reads in one pass and on those
// it leaves to the walk.
func TestFieldsReadOnceAsByTokens(t *testing.T) {
	known := map[string]bool{"amount": true, "metadata": true, "description": true, "quantities": true}
	bodies := []string{
		`{}`, ` {"amount":1} `, `{"amount":1,"amount":2}`, `{"AMOUNT":1}`, `{"amount":1,"colour":"red"}`,
		`{"metadata":{"amount":1,"amount":2},"amount":3}`, `{"metadata":{"x":[1,{"y":"}"}]},"description":"a,\"b\":{"}`,
		`{"description":"\"amount\":","amount":1}`, `{"quantities":{"input":1},"metadata":{},"amount":1,"description":""}`,
		`{"am\u006funt":1}`, `{"am\u006funt":1,"amount":2}`, `{"montant\u00e9":1}`, `{"é":1}`, `{"metadata":{"é\"":"\\"},"amount":1}`,
		`[]`, `"amount"`, `1`, `{"amount":1} {"amount":2}`, `{"amount":1,}`, `{"amount":tru}`, `{"amount":1`, ``, `{"description":"\x01"}`,
		`{"amount":[1,2,{"amount":3}],"description":{"a":{"b":{"c":[]}}},"metadata":null}`, `{"description":"\",","colour":1}`, `{"description":"\\","amount":1,"amount":2}`,
	}
	for _, body := range bodies {
		want := fmt.Sprint(walkFields([]byte(body), known))
		if got := fmt.Sprint(checkFields([]byte(body), known)); got != want {
			t.Errorf("checkFields(%s) = %s, want %s (as walkFields)", body, got, want)
		}
	}
	if keys, ok := topLevelKeys([]byte(`{"metadata":{"a":1},"description":"x,\"y\":","amount":1}`)); !ok || fmt.Sprint(keys) != "[metadata description amount]" {
		t.Errorf("topLevelKeys = %v, %v, want the three top-level keys in order", keys, ok)
	}
}

// FuzzFieldsReadOnceAsByTokens wants checkFields to answer as walkFields
// does on any body (go test -fuzz=FuzzFieldsReadOnceAsByTokens ./server).
func FuzzFieldsReadOnceAsByTokens(f *testing.F) {
	for _, body := range []string{`{"amount":1}`, `{"amount":1,"amount":2}`, `{"metadata":{"a":"}"},"description":"\",\"x\""}`,
		`{"\u0061mount":1}`, `{"é":[{"amount":1}]}`, ` {"amount" : 1 , "colour" : null } `, `{"amount":1} 1`} {
		f.Add([]byte(body))
	}
	known := map[string]bool{"amount": true, "metadata": true, "description": true}
	f.Fuzz(func(t *testing.T, body []byte) {
		want := fmt.Sprint(walkFields(body, known))
		if got := fmt.Sprint(checkFields(body, known)); got != want {
			t.Errorf("checkFields(%q) = %s, want %s (as walkFields)", body, got, want)
		}
	})
}
