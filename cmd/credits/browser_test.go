package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const chromiumPath = "/usr/bin/chromium"

// artifactsDir is where the browser test saves its screenshots:
// $CREDITS_TEST_ARTIFACTS (CI sets it), else a temporary directory.
func artifactsDir(t *testing.T) string {
	dir := os.Getenv("CREDITS_TEST_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// newChromium starts Debian's headless Chromium, with the flags that keep it
// off the network it cannot reach here.
func newChromium(t *testing.T) context.Context {
	t.Helper()
	if _, err := exec.LookPath(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI needs Debian's chromium at %s (.ci/run installs it)", chromiumPath)
		}
		t.Skip("needs Debian's chromium package at " + chromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
	}
	allocator, cancelAllocator := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(allocator)
	t.Cleanup(func() { cancelBrowser(); cancelAllocator() })
	// The first call starts the browser; it must not run under a timeout.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancelTimeout)
	return ctx
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// read waits for an element and returns its text.
func read(t *testing.T, ctx context.Context, selector string) string {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(selector))); err != nil {
		t.Fatalf("wait for %s: %v", selector, err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(selector)))
	if err != nil {
		t.Fatalf("read %s: %v", selector, err)
	}
	return strings.TrimSpace(text)
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserPurchase buys credits in a real browser: the demo's dashboard
// link, Purchase, the simulated checkout with 4242…, the success page, the
// dashboard; then a declined card that adds nothing.
func TestBrowserPurchase(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs a browser")
	}
	ctx := newChromium(t)
	_, link := startDemo(t)
	dir := artifactsDir(t)
	dashboard := link[:strings.Index(link, "/dashboard/")] + "/dashboard/credits"
	starter := chromedp.CSS(`#packs form.pack[data-pack="starter"] button`)

	// The link's page names the account; Continue (a same-origin form, as the
	// browser says in Sec-Fetch-Site) exchanges the link for a session.
	do(t, ctx, chromedp.Navigate(link))
	if got := read(t, ctx, "#link-account"); got != "demo@example.com" {
		t.Errorf("the link's page names %q", got)
	}
	screenshot(t, ctx, dir, "link.png")
	do(t, ctx, chromedp.Click(chromedp.CSS("#continue-login button")))
	if got := read(t, ctx, "#balance"); got != "0" {
		t.Errorf("balance before buying = %q, want 0", got)
	}
	screenshot(t, ctx, dir, "dashboard-before.png")

	do(t, ctx, chromedp.Click(starter), chromedp.WaitVisible(chromedp.CSS("#simulation")),
		chromedp.SendKeys(chromedp.CSS("#card"), "4242 4242 4242 4242"))
	screenshot(t, ctx, dir, "checkout.png")

	do(t, ctx, chromedp.Click(chromedp.CSS("#pay")))
	if got := read(t, ctx, "#balance"); got != "100 credits" {
		t.Errorf("success page balance = %q, want 100 credits", got)
	}
	screenshot(t, ctx, dir, "success.png")

	do(t, ctx, chromedp.Navigate(dashboard))
	if got := read(t, ctx, "#balance"); got != "100" {
		t.Fatalf("dashboard after paying: %q, want 100", got)
	}
	screenshot(t, ctx, dir, "dashboard.png")
	do(t, ctx, chromedp.EmulateViewport(390, 844), chromedp.Navigate(dashboard), chromedp.WaitVisible(chromedp.CSS("#balance")))
	screenshot(t, ctx, dir, "dashboard-phone.png")
	do(t, ctx, chromedp.EmulateViewport(1280, 900))

	do(t, ctx, chromedp.Click(starter), chromedp.WaitVisible(chromedp.CSS("#card")),
		chromedp.SendKeys(chromedp.CSS("#card"), "4000 0000 0000 0002"), chromedp.Click(chromedp.CSS("#pay")))
	if got := read(t, ctx, "#error"); got != "Your card was declined." {
		t.Errorf("declined card says %q", got)
	}
	screenshot(t, ctx, dir, "declined.png")
	do(t, ctx, chromedp.Navigate(dashboard))
	if got := read(t, ctx, "#balance"); got != "100" {
		t.Errorf("dashboard after a declined card: %q, want 100: nothing added", got)
	}
	t.Logf("screenshots in %s", dir)
}
