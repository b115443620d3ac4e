package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/credits/credits"
)

// attack3Tests are the hostile review of issue 30's look-alike emails: each
// fails while its hole is open.
var attack3Tests = []struct {
	name string
	fn   func(*testing.T, Opener)
}{
	{"Attack3InvisibleCharactersMakeLookAlikeEmails", testAttack3InvisibleLookAlikes},
	{"Attack3LookAlikeEmailsCreatedConcurrently", testAttack3LookAlikesConcurrently},
}

// testAttack3InvisibleLookAlikes: an email that shows exactly as another
// account's (an invisible format character inside it: zero-width space,
// zero-width joiner, soft hyphen, word joiner, left-to-right mark) is
// accepted, and the look-alike refusal does not see it: NFKC and case
// folding keep format characters (Cf), and PlainText refuses only Cc and the
// bidi embeddings/isolates. The operator sees two accounts "kate@example.com"
// and may accept kate's unmatched purchase on the wrong one.
func testAttack3InvisibleLookAlikes(t *testing.T, open Opener) {
	ctx := context.Background()
	svc := credits.NewService(open(t))
	if _, err := svc.CreateAccount(ctx, "kate", "kate@example.com"); err != nil {
		t.Fatal(err)
	}
	for i, email := range []string{
		"ka\u200bte@example.com", // ZERO WIDTH SPACE
		"ka\u200dte@example.com", // ZERO WIDTH JOINER
		"ka\u00adte@example.com", // SOFT HYPHEN
		"ka\u2060te@example.com", // WORD JOINER
		"kate\u200e@example.com", // LEFT-TO-RIGHT MARK (a bidi control too)
		"kate@exa\u200bmple.com", // in the domain
	} {
		_, err := svc.CreateAccount(ctx, fmt.Sprintf("alike%d", i), email)
		if err == nil {
			t.Errorf("CreateAccount(%+q) was accepted beside kate@example.com: it shows the same", email)
		}
	}
}

// testAttack3LookAlikesConcurrently: refuseLookAlike reads the accounts of
// the folded email, then inserts; nothing makes that read and the insert one
// (no unique index on email_key: equal emails may be shared). Two creates at
// once, kate@ and its Kelvin-sign look-alike, both succeed on a store whose
// writers do not queue (PostgreSQL at READ COMMITTED).
func testAttack3LookAlikesConcurrently(t *testing.T, open Opener) {
	ctx := context.Background()
	svc := credits.NewService(open(t))
	for round := range 20 {
		emails := []string{fmt.Sprintf("kate%d@example.com", round), fmt.Sprintf("\u212aate%d@example.com", round)}
		var wg sync.WaitGroup
		errs := make([]error, len(emails))
		for i, email := range emails {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = svc.CreateAccount(ctx, fmt.Sprintf("r%d-%d", round, i), email)
			}()
		}
		wg.Wait()
		if errs[0] == nil && errs[1] == nil {
			t.Fatalf("round %d: %q and %q were both created", round, emails[0], emails[1])
		}
	}
}
