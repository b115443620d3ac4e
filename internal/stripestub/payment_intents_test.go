package stripestub

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	stripe "github.com/stripe/stripe-go/v85"
)

func TestConfirmOutcomesByCard(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pm              string
		outcome         *Outcome
		wantHTTP        int
		wantType        stripe.ErrorType
		wantCode        stripe.ErrorCode
		wantDeclineCode stripe.DeclineCode
		wantStatus      stripe.PaymentIntentStatus // of the PaymentIntent kept, "" when none is made
		wantCharges     int                        // succeeded
	}{
		{pm: "pm_card_visa", wantHTTP: 200, wantStatus: "succeeded", wantCharges: 1},
		{pm: "pm_unknown_to_the_stub", wantHTTP: 200, wantStatus: "succeeded", wantCharges: 1},
		{pm: "pm_insufficient", outcome: ptr(Declined("insufficient_funds")), wantHTTP: 402, wantType: "card_error",
			wantCode: "card_declined", wantDeclineCode: "insufficient_funds", wantStatus: "requires_payment_method"},
		{pm: "pm_lost", outcome: ptr(Declined("lost_card")), wantHTTP: 402, wantType: "card_error",
			wantCode: "card_declined", wantDeclineCode: "lost_card", wantStatus: "requires_payment_method"},
		{pm: "pm_stolen", outcome: ptr(Declined("stolen_card")), wantHTTP: 402, wantType: "card_error",
			wantCode: "card_declined", wantDeclineCode: "stolen_card", wantStatus: "requires_payment_method"},
		{pm: "pm_generic", outcome: ptr(Declined("generic_decline")), wantHTTP: 402, wantType: "card_error",
			wantCode: "card_declined", wantDeclineCode: "generic_decline", wantStatus: "requires_payment_method"},
		{pm: "pm_try_later", outcome: ptr(Declined("try_again_later")), wantHTTP: 402, wantType: "card_error",
			wantCode: "card_declined", wantDeclineCode: "try_again_later", wantStatus: "requires_payment_method"},
		{pm: "pm_issuer", outcome: ptr(Declined("issuer_not_available")), wantHTTP: 402, wantType: "card_error",
			wantCode: "card_declined", wantDeclineCode: "issuer_not_available", wantStatus: "requires_payment_method"},
		{pm: "pm_processing_error", outcome: ptr(Declined("processing_error")), wantHTTP: 402, wantType: "card_error",
			wantCode: "processing_error", wantDeclineCode: "processing_error", wantStatus: "requires_payment_method"},
		{pm: "pm_sca", outcome: ptr(AuthenticationRequired()), wantHTTP: 402, wantType: "card_error",
			wantCode: "authentication_required", wantDeclineCode: "authentication_required", wantStatus: "requires_payment_method"},
		{pm: "pm_slow", outcome: ptr(Processing()), wantHTTP: 200, wantStatus: "processing"},
		{pm: "pm_gone", outcome: ptr(PaymentMethodMissing("pm_gone")), wantHTTP: 400, wantType: "invalid_request_error",
			wantCode: "resource_missing"},
	} {
		t.Run(tc.pm, func(t *testing.T) {
			t.Parallel()
			s := Start(t)
			if tc.outcome != nil {
				s.SetOutcome(tc.pm, *tc.outcome)
			}
			pi, err := newAPI(t, s.URL, 0).V1PaymentIntents.Create(ctx, chargeParams("k", "cus_1", tc.pm, 500, map[string]string{"credits_recharge": "rch_1"}))
			if tc.wantHTTP == 200 {
				if err != nil {
					t.Fatal(err)
				}
				if got := pi.Status; got != tc.wantStatus {
					t.Errorf("status %q, want %q", got, tc.wantStatus)
				}
			} else {
				checkCardError(t, apiErr(t, err), tc.wantHTTP, tc.wantType, tc.wantCode, tc.wantDeclineCode, tc.wantStatus)
			}
			kept := s.PaymentIntents()
			if tc.wantStatus == "" && len(kept) != 0 {
				t.Errorf("kept %d PaymentIntents, want none", len(kept))
			}
			if tc.wantStatus != "" && (len(kept) != 1 || kept[0].Status != string(tc.wantStatus) || kept[0].Metadata["credits_recharge"] != "rch_1") {
				t.Errorf("kept %+v, want one %s with its metadata", kept, tc.wantStatus)
			}
			if got := len(s.SucceededPaymentIntents()); got != tc.wantCharges {
				t.Errorf("%d succeeded, want %d", got, tc.wantCharges)
			}
		})
	}
}

func checkCardError(t *testing.T, e *stripe.Error, wantHTTP int, wantType stripe.ErrorType, wantCode stripe.ErrorCode,
	wantDeclineCode stripe.DeclineCode, wantStatus stripe.PaymentIntentStatus) {
	t.Helper()
	if e.HTTPStatusCode != wantHTTP || e.Type != wantType || e.Code != wantCode || e.DeclineCode != wantDeclineCode {
		t.Errorf("got %d %s %s %s, want %d %s %s %s", e.HTTPStatusCode, e.Type, e.Code, e.DeclineCode,
			wantHTTP, wantType, wantCode, wantDeclineCode)
	}
	if wantStatus != "" && (e.PaymentIntent == nil || e.PaymentIntent.Status != wantStatus ||
		e.PaymentIntent.LastPaymentError == nil || e.PaymentIntent.LastPaymentError.DeclineCode != wantDeclineCode) {
		t.Errorf("error's payment_intent %+v, want status %s with its last_payment_error", e.PaymentIntent, wantStatus)
	}
}

func TestAuthenticationOnAndOffSession(t *testing.T) {
	t.Parallel()
	s := Start(t)
	api := newAPI(t, s.URL, 0)
	s.SetOutcome("pm_3ds", RequiresAction())
	params := chargeParams("k1", "cus_1", "pm_3ds", 500, nil)
	params.OffSession = nil
	on, err := api.V1PaymentIntents.Create(ctx, params)
	if err != nil || on.Status != stripe.PaymentIntentStatusRequiresAction {
		t.Errorf("on session: %v %+v, want requires_action", err, on)
	}
	_, err = api.V1PaymentIntents.Create(ctx, chargeParams("k2", "cus_1", "pm_3ds", 500, nil))
	checkCardError(t, apiErr(t, err), 402, stripe.ErrorTypeCard, "authentication_required", "authentication_required", "requires_payment_method")
}

func TestRequireReturnURL(t *testing.T) {
	t.Parallel()
	s := Start(t)
	api := newAPI(t, s.URL, 0)
	s.RequireReturnURL(true)
	bare := chargeParams("k1", "cus_1", "pm_card_visa", 500, nil)
	bare.PaymentMethodTypes = nil
	_, err := api.V1PaymentIntents.Create(ctx, bare)
	if e := apiErr(t, err); e.HTTPStatusCode != 400 || e.Param != "return_url" {
		t.Errorf("without payment_method_types: %d on %q, want 400 on return_url", e.HTTPStatusCode, e.Param)
	}
	noRedirects := chargeParams("k2", "cus_1", "pm_card_visa", 500, nil)
	noRedirects.PaymentMethodTypes = nil
	noRedirects.AutomaticPaymentMethods = &stripe.PaymentIntentCreateAutomaticPaymentMethodsParams{
		Enabled: stripe.Bool(true), AllowRedirects: stripe.String("never")}
	for name, params := range map[string]*stripe.PaymentIntentCreateParams{
		"card only": chargeParams("k3", "cus_1", "pm_card_visa", 500, nil), "no redirects": noRedirects} {
		if _, err := api.V1PaymentIntents.Create(ctx, params); err != nil {
			t.Errorf("%s: %v, want it charged", name, err)
		}
	}
	if got, want := s.Requests()[0].StripeVersion, stripe.APIVersion; got != want {
		t.Errorf("Stripe-Version %q, want %q", got, want)
	}
}

func TestSearchLagsListDoesNot(t *testing.T) {
	t.Parallel()
	s := Start(t)
	api := newAPI(t, s.URL, 0)
	now := time.Unix(1_800_000_000, 0)
	s.SetNow(func() time.Time { return now })
	s.SetSearchLag(time.Minute)
	pi, err := api.V1PaymentIntents.Create(ctx, chargeParams("k1", "cus_1", "pm_card_visa", 500, map[string]string{"credits_recharge": "rch_1"}))
	if err != nil {
		t.Fatal(err)
	}
	count := func() (found, listed int) {
		for _, err := range api.V1PaymentIntents.Search(ctx, &stripe.PaymentIntentSearchParams{SearchParams: stripe.SearchParams{Query: "metadata['credits_recharge']:'rch_1'"}}).All(ctx) {
			if err != nil {
				t.Fatal(err)
			}
			found++
		}
		for _, err := range api.V1PaymentIntents.List(ctx, &stripe.PaymentIntentListParams{Customer: stripe.String("cus_1")}).All(ctx) {
			if err != nil {
				t.Fatal(err)
			}
			listed++
		}
		return found, listed
	}
	if found, listed := count(); found != 0 || listed != 1 {
		t.Errorf("at once: search found %d, list %d; want 0 and 1", found, listed)
	}
	later := now.Add(time.Minute)
	s.SetNow(func() time.Time { return later })
	if found, listed := count(); found != 1 || listed != 1 {
		t.Errorf("a minute later: search found %d (%s), list %d; want 1 and 1", found, pi.ID, listed)
	}
}

func TestProcessingSettlesWhenTheTestSaysSo(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		to         string
		wantCharge string
		wantEvent  string
	}{
		{"succeeded", "succeeded", "payment_intent.succeeded"},
		{"requires_payment_method", "failed", "payment_intent.payment_failed"},
		{"canceled", "failed", "payment_intent.canceled"},
	} {
		t.Run(tc.to, func(t *testing.T) {
			t.Parallel()
			s := Start(t)
			s.SetOutcome("pm_slow", Processing())
			api := newAPI(t, s.URL, 0)
			pi, err := api.V1PaymentIntents.Create(ctx, chargeParams("k", "cus_1", "pm_slow", 500, nil))
			if err != nil {
				t.Fatal(err)
			}
			s.SetPaymentIntentStatus(pi.ID, tc.to)
			got, err := api.V1PaymentIntents.Retrieve(ctx, pi.ID, nil)
			if err != nil {
				t.Fatal(err)
			}
			if string(got.Status) != tc.to {
				t.Errorf("status %q, want %q", got.Status, tc.to)
			}
			ch, err := api.V1Charges.Retrieve(ctx, got.LatestCharge.ID, nil)
			if err != nil {
				t.Fatal(err)
			}
			if string(ch.Status) != tc.wantCharge || ch.PaymentIntent.ID != pi.ID {
				t.Errorf("charge %s of %s, want %s of %s", ch.Status, ch.PaymentIntent.ID, tc.wantCharge, pi.ID)
			}
			if events := s.Events(tc.wantEvent); len(events) != 1 {
				t.Errorf("%d %s events, want 1", len(events), tc.wantEvent)
			}
		})
	}
}

func TestSavedCardMustBelongToTheCustomer(t *testing.T) {
	t.Parallel()
	s := Start(t)
	api := newAPI(t, s.URL, 0)
	s.AttachPaymentMethod("pm_a", "cus_a")
	if _, err := api.V1PaymentIntents.Create(ctx, chargeParams("k1", "cus_a", "pm_a", 500, nil)); err != nil {
		t.Errorf("the owner's card: %v", err)
	}
	_, err := api.V1PaymentIntents.Create(ctx, chargeParams("k2", "cus_b", "pm_a", 500, nil))
	if e := apiErr(t, err); e.HTTPStatusCode != 400 || e.Type != stripe.ErrorTypeInvalidRequest || e.Param != "payment_method" {
		t.Errorf("another customer's card: %d %s %s, want 400 invalid_request_error on payment_method", e.HTTPStatusCode, e.Type, e.Param)
	}
	s.DetachPaymentMethod("pm_a")
	_, err = api.V1PaymentIntents.Create(ctx, chargeParams("k3", "cus_a", "pm_a", 500, nil))
	if e := apiErr(t, err); e.HTTPStatusCode != 400 {
		t.Errorf("a detached card: %d, want 400", e.HTTPStatusCode)
	}
}

func TestParameterErrors(t *testing.T) {
	t.Parallel()
	s := Start(t)
	api := newAPI(t, s.URL, 0)
	small := chargeParams("", "cus_1", "pm_card_visa", 10, nil)
	noCurrency := chargeParams("", "cus_1", "pm_card_visa", 500, nil)
	noCurrency.Currency = nil
	for name, tc := range map[string]struct {
		params   *stripe.PaymentIntentCreateParams
		wantCode stripe.ErrorCode
	}{
		"amount_too_small": {small, stripe.ErrorCodeAmountTooSmall},
		"no currency":      {noCurrency, stripe.ErrorCodeParameterMissing},
	} {
		_, err := api.V1PaymentIntents.Create(ctx, tc.params)
		if e := apiErr(t, err); e.HTTPStatusCode != 400 || e.Code != tc.wantCode {
			t.Errorf("%s: %d %s, want 400 %s", name, e.HTTPStatusCode, e.Code, tc.wantCode)
		}
	}
	_, err := api.V1PaymentIntents.Retrieve(ctx, "pi_missing", nil)
	if e := apiErr(t, err); e.HTTPStatusCode != 404 || e.Code != stripe.ErrorCodeResourceMissing {
		t.Errorf("unknown id: %d %s, want 404 resource_missing", e.HTTPStatusCode, e.Code)
	}
}

func TestSearchAndListPaymentIntents(t *testing.T) {
	t.Parallel()
	s := Start(t)
	api := newAPI(t, s.URL, 0)
	start := time.Unix(1_800_000_000, 0)
	var made []string
	for i, tc := range []struct{ customer, recharge string }{
		{"cus_a", "rch_1"}, {"cus_a", "rch_2"}, {"cus_b", "rch_3"}, {"cus_a", "rch_4"}, {"cus_a", "rch_5"},
	} {
		at := start.Add(time.Duration(i) * time.Hour)
		s.SetNow(func() time.Time { return at })
		pi, err := api.V1PaymentIntents.Create(ctx, chargeParams(tc.recharge, tc.customer, "pm_card_visa", 500, map[string]string{"credits_recharge": tc.recharge}))
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, pi.ID)
	}
	search := func(query string) []string {
		var ids []string
		for pi, err := range api.V1PaymentIntents.Search(ctx, &stripe.PaymentIntentSearchParams{SearchParams: stripe.SearchParams{Query: query, Limit: stripe.Int64(1)}}).All(ctx) {
			if err != nil {
				t.Fatalf("search %s: %v", query, err)
			}
			ids = append(ids, pi.ID)
		}
		return ids
	}
	list := func(params *stripe.PaymentIntentListParams) []string {
		var ids []string
		for pi, err := range api.V1PaymentIntents.List(ctx, params).All(ctx) {
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, pi.ID)
		}
		return ids
	}
	twoPerPage := stripe.ListParams{Limit: stripe.Int64(2)}
	for _, tc := range []struct {
		name string
		got  []string
		want []string
	}{
		{"search by metadata", search("metadata['credits_recharge']:'rch_2'"), []string{made[1]}},
		{"search by metadata, double quotes", search(`metadata["credits_recharge"]:"rch_3"`), []string{made[2]}},
		{"search by customer and metadata", search("customer:'cus_a' AND metadata['credits_recharge']:'rch_3'"), nil},
		{"search by customer, paged", search("customer:'cus_a'"), []string{made[4], made[3], made[1], made[0]}},
		{"list by customer, paged", list(&stripe.PaymentIntentListParams{ListParams: twoPerPage, Customer: stripe.String("cus_a")}),
			[]string{made[4], made[3], made[1], made[0]}},
		{"list since", list(&stripe.PaymentIntentListParams{ListParams: twoPerPage,
			CreatedRange: &stripe.RangeQueryParams{GreaterThanOrEqual: start.Add(2 * time.Hour).Unix()}}), []string{made[4], made[3], made[2]}},
	} {
		if fmt.Sprint(tc.got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	// A query the stand-in cannot answer is refused, not answered wrongly.
	for _, err := range api.V1PaymentIntents.Search(ctx, &stripe.PaymentIntentSearchParams{SearchParams: stripe.SearchParams{Query: "amount>100"}}).All(ctx) {
		if e := apiErr(t, err); e.HTTPStatusCode != 400 {
			t.Errorf("unsupported query: %d, want 400", e.HTTPStatusCode)
		}
		break
	}
}

func TestChargesListAndExpand(t *testing.T) {
	t.Parallel()
	s := Start(t)
	api := newAPI(t, s.URL, 0)
	s.SetOutcome("pm_declined", Declined("generic_decline"))
	ok, err := api.V1PaymentIntents.Create(ctx, chargeParams("k1", "cus_1", "pm_card_visa", 500, map[string]string{"credits_recharge": "rch_1"}))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = api.V1PaymentIntents.Create(ctx, chargeParams("k2", "cus_1", "pm_declined", 500, nil))
	var charges []*stripe.Charge
	for ch, err := range api.V1Charges.List(ctx, &stripe.ChargeListParams{}).All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		charges = append(charges, ch)
	}
	if len(charges) != 2 || charges[0].Status != "failed" || charges[1].Status != "succeeded" ||
		charges[1].PaymentIntent.ID != ok.ID || charges[1].Metadata["credits_recharge"] != "rch_1" || charges[1].Amount != 500 {
		t.Errorf("charges %+v, want the failed one then the succeeded one with its PaymentIntent's metadata", charges)
	}
	params := &stripe.PaymentIntentRetrieveParams{}
	params.AddExpand("payment_method")
	params.AddExpand("latest_charge")
	pi, err := api.V1PaymentIntents.Retrieve(ctx, ok.ID, params)
	if err != nil {
		t.Fatal(err)
	}
	if pi.PaymentMethod == nil || pi.PaymentMethod.Card == nil || pi.PaymentMethod.Card.Last4 != "4242" || pi.LatestCharge.Amount != 500 {
		t.Errorf("expanded %+v, want its card and charge", pi)
	}
}

func TestCancelAndBehindTheBackPaymentIntents(t *testing.T) {
	t.Parallel()
	s := Start(t)
	api := newAPI(t, s.URL, 0)
	created := s.CreatePaymentIntent(PaymentIntentParams{Amount: 500, Currency: "usd", Customer: "cus_1",
		PaymentMethod: "pm_card_visa", Confirm: true, Metadata: map[string]string{"credits_recharge": "rch_1"}})
	if created.Status != "succeeded" || len(s.SucceededPaymentIntents()) != 1 {
		t.Fatalf("made %+v, want a succeeded PaymentIntent", created)
	}
	_, err := api.V1PaymentIntents.Cancel(ctx, created.ID, nil)
	if e := apiErr(t, err); e.Code != stripe.ErrorCodePaymentIntentUnexpectedState {
		t.Errorf("canceling a succeeded PaymentIntent: %s, want payment_intent_unexpected_state", e.Code)
	}
	open, err := api.V1PaymentIntents.Create(ctx, &stripe.PaymentIntentCreateParams{Amount: stripe.Int64(500), Currency: stripe.String("usd")})
	if err != nil {
		t.Fatal(err)
	}
	canceled, err := api.V1PaymentIntents.Cancel(ctx, open.ID, nil)
	if err != nil || canceled.Status != stripe.PaymentIntentStatusCanceled {
		t.Errorf("cancel: %v %+v, want canceled", err, canceled)
	}
	if got, want := http.MethodPost, s.Requests()[1].Method; got != want {
		t.Errorf("second request %s, want %s", want, got)
	}
}
