package server_test

import (
	"encoding/base64"
	"encoding/json"
	"time"
)

func timeNow() time.Time { return time.Now() }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func base64URL(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
