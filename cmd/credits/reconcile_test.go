package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestReconcileEverySetting(t *testing.T) {
	tests := []struct {
		value   string
		want    time.Duration
		wantErr bool
	}{
		{"", 24 * time.Hour, false},
		{"0", 0, false},
		{"6h", 6 * time.Hour, false},
		{"30m", 0, true},
		{"-1h", 0, true},
		{"daily", 0, true},
	}
	for _, tt := range tests {
		m := NewMain(&bytes.Buffer{}, &bytes.Buffer{})
		err := m.ParseFlags(nil, env(map[string]string{"CREDITS_RECONCILE_EVERY": tt.value}))
		if tt.wantErr {
			if err == nil || !strings.Contains(err.Error(), "CREDITS_RECONCILE_EVERY") {
				t.Errorf("%q: %v, want an error naming CREDITS_RECONCILE_EVERY", tt.value, err)
			}
			continue
		}
		if err != nil || m.Config.reconcileEvery != tt.want {
			t.Errorf("%q: %v (%v), want %v", tt.value, m.Config.reconcileEvery, err, tt.want)
		}
	}
}
