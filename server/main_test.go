package server_test

import (
	"os"
	"testing"

	"github.com/credits/credits/internal/stripemock"
)

// TestMain stops the one stripe-mock that this package's tests share.
func TestMain(m *testing.M) { os.Exit(stripemock.Main(m)) }
