// Package doclinks checks the links of the repository's Markdown: every
// relative link of README.md and docs/*.md names a file that a fresh clone
// has, and every #anchor a heading of the file it points into.
package doclinks

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// root is the repository's root, from this package's directory.
const root = "../.."

var (
	mdLink  = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	imgSrc  = regexp.MustCompile(`<img[^>]*\ssrc="([^"]+)"`)
	heading = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)
)

func docs(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, filepath.Join(root, "README.md"))
	if len(files) < 2 {
		t.Fatalf("no docs found under %s", root)
	}
	return files
}

// lines returns a Markdown file's lines, those inside fenced code blocks
// blanked (so that line numbers stay true).
func lines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	fenced := false
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			fenced = !fenced
			l = ""
		}
		if fenced {
			l = ""
		}
		out = append(out, l)
	}
	return out
}

// slug is GitHub's anchor for a heading: lower case, punctuation dropped,
// spaces turned to hyphens.
func slug(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// anchors lists the anchors of a Markdown file's headings (a repeated
// heading's later copies get -1, -2, …).
func anchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	seen := map[string]int{}
	out := map[string]bool{}
	for _, l := range lines(t, path) {
		m := heading.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		s := slug(m[1])
		if n := seen[s]; n > 0 {
			out[s+"-"+strconv.Itoa(n)] = true
		} else {
			out[s] = true
		}
		seen[s]++
	}
	return out
}

func TestRelativeLinksExist(t *testing.T) {
	t.Parallel()
	checked := 0
	for _, doc := range docs(t) {
		rel, _ := filepath.Rel(root, doc)
		for i, l := range lines(t, doc) {
			var targets []string
			for _, m := range mdLink.FindAllStringSubmatch(l, -1) {
				targets = append(targets, m[1])
			}
			for _, m := range imgSrc.FindAllStringSubmatch(l, -1) {
				targets = append(targets, m[1])
			}
			for _, target := range targets {
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				path, anchor, _ := strings.Cut(target, "#")
				file := doc
				if path != "" {
					file = filepath.Join(filepath.Dir(doc), filepath.FromSlash(path))
					if _, err := os.Stat(file); err != nil {
						t.Errorf("%s:%d: link %q: no %s in the repository", rel, i+1, target, path)
						continue
					}
				}
				checked++
				if anchor != "" && strings.HasSuffix(file, ".md") && !anchors(t, file)[anchor] {
					t.Errorf("%s:%d: link %q: no heading with anchor #%s in %s", rel, i+1, target, anchor, filepath.Base(file))
				}
			}
		}
	}
	if checked == 0 {
		t.Error("no relative link found: the pattern no longer matches the docs")
	}
}

// TestNoSharedPaths: ../shared exists beside the project's working copies,
// not in a clone.
func TestNoSharedPaths(t *testing.T) {
	t.Parallel()
	for _, doc := range docs(t) {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, doc)
		for i, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "../shared") {
				t.Errorf("%s:%d: names ../shared, which a clone does not have: %s", rel, i+1, strings.TrimSpace(l))
			}
		}
	}
}

func TestSlug(t *testing.T) {
	t.Parallel()
	for h, want := range map[string]string{
		"Rotating the signing secret":                "rotating-the-signing-secret",
		"Why SQLite and PostgreSQL as they are":      "why-sqlite-and-postgresql-as-they-are",
		"SQL written once (`internal/sqlstore`)":     "sql-written-once-internalsqlstore",
		"How each Stripe answer is treated":          "how-each-stripe-answer-is-treated",
		"Performance: what the profiles showed, and": "performance-what-the-profiles-showed-and",
	} {
		if got := slug(h); got != want {
			t.Errorf("slug(%q) = %q, want %q", h, got, want)
		}
	}
}
