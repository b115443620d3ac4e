package main

import (
	"context"
	"errors"
	"io"

	"github.com/credits/credits/internal/bench"
)

// runBench runs `credits bench` (internal/bench) on services that this
// binary's own wiring starts.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	err := bench.Run(ctx, args, startBenchService, stdout, stderr)
	if u := (bench.UsageError{}); errors.As(err, &u) {
		return usageError{u.Msg}
	}
	return err
}

// startBenchService runs one service on loopback with the given settings.
func startBenchService(ctx context.Context, vars map[string]string) (bench.Service, error) {
	m := NewMain(io.Discard, io.Discard)
	if err := m.ParseFlags([]string{"--addr", "127.0.0.1:0"}, func(k string) string { return vars[k] }); err != nil {
		return bench.Service{}, err
	}
	if err := m.Run(ctx); err != nil {
		return bench.Service{}, errors.Join(err, m.Close())
	}
	return bench.Service{Addr: m.Addr(), Service: m.Service, Close: m.Close}, nil
}
