package stripestub

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// List and search limits, as Stripe documents them
// (https://docs.stripe.com/api/pagination).
const (
	defaultListLimit = 10
	maxListLimit     = 100
)

// listed is what a list needs of an object.
type listed interface {
	stripeID() string
	createdAt() int64
	order() int
}

// listEnvelope is Stripe's list object.
type listEnvelope struct {
	Object  string `json:"object"`
	Data    []any  `json:"data"`
	HasMore bool   `json:"has_more"`
	URL     string `json:"url"`
}

// createdFilter reads created[gte|gt|lte|lt] (or created=n).
type createdFilter struct{ gte, gt, lte, lt *int64 }

func readCreated(form url.Values) (createdFilter, response) {
	var f createdFilter
	for name, dst := range map[string]**int64{"created[gte]": &f.gte, "created[gt]": &f.gt, "created[lte]": &f.lte, "created[lt]": &f.lt} {
		n, present, bad := intParam(form, name)
		if bad.status != 0 {
			return f, bad
		}
		if present {
			*dst = &n
		}
	}
	n, present, bad := intParam(form, "created")
	if bad.status != 0 {
		return f, bad
	}
	if present {
		f.gte, f.lte = &n, &n
	}
	return f, response{}
}

func (f createdFilter) match(created int64) bool {
	return (f.gte == nil || created >= *f.gte) && (f.gt == nil || created > *f.gt) &&
		(f.lte == nil || created <= *f.lte) && (f.lt == nil || created < *f.lt)
}

func readLimit(form url.Values) (int, response) {
	raw := form.Get("limit")
	if raw == "" {
		return defaultListLimit, response{}
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > maxListLimit {
		return 0, invalidParams("parameter_invalid_integer", "limit",
			fmt.Sprintf("Invalid integer: %s; limit must be between 1 and %d", raw, maxListLimit))
	}
	return n, response{}
}

// newestFirst orders objects as Stripe lists them.
func newestFirst[T listed](items []T) {
	slices.SortFunc(items, func(a, b T) int {
		if a.createdAt() != b.createdAt() {
			return int(b.createdAt() - a.createdAt())
		}
		return b.order() - a.order()
	})
}

// listPage answers a list request over items (already filtered by the
// resource's own parameters): created range, starting_after,
// ending_before and limit, newest first. Callers hold s.mu.
func listPage[T listed](form url.Values, path string, items []T, render func(T) any) response {
	created, bad := readCreated(form)
	if bad.status != 0 {
		return bad
	}
	limit, bad := readLimit(form)
	if bad.status != 0 {
		return bad
	}
	var kept []T
	for _, item := range items {
		if created.match(item.createdAt()) {
			kept = append(kept, item)
		}
	}
	newestFirst(kept)
	if after := form.Get("starting_after"); after != "" {
		i := slices.IndexFunc(kept, func(item T) bool { return item.stripeID() == after })
		if i < 0 {
			return invalidParams("resource_missing", "starting_after", fmt.Sprintf("No such object: '%s'", after))
		}
		kept = kept[i+1:]
	} else if before := form.Get("ending_before"); before != "" {
		i := slices.IndexFunc(kept, func(item T) bool { return item.stripeID() == before })
		if i < 0 {
			return invalidParams("resource_missing", "ending_before", fmt.Sprintf("No such object: '%s'", before))
		}
		kept = kept[max(0, i-limit):i]
	}
	env := listEnvelope{Object: "list", Data: []any{}, URL: path, HasMore: len(kept) > limit}
	for _, item := range kept[:min(limit, len(kept))] {
		env.Data = append(env.Data, render(item))
	}
	return jsonResponse(200, env)
}

// searchEnvelope is Stripe's search_result object.
type searchEnvelope struct {
	Object   string  `json:"object"`
	Data     []any   `json:"data"`
	HasMore  bool    `json:"has_more"`
	NextPage *string `json:"next_page"`
	URL      string  `json:"url"`
}

// searchClause is one field:'value' term of Stripe's search query
// language (https://docs.stripe.com/search#search-query-language); field
// is "metadata[key]" for metadata['key'].
type searchClause struct{ field, value string }

// parseSearch reads clauses joined by AND; OR, negation, comparisons and
// substring search are refused rather than answered wrongly.
func parseSearch(query string) ([]searchClause, error) {
	var clauses []searchClause
	for _, term := range strings.Split(query, " AND ") {
		term = strings.TrimSpace(term)
		colon := strings.LastIndex(term, ":")
		if colon < 0 || strings.Contains(term, " OR ") || strings.HasPrefix(term, "-") {
			return nil, fmt.Errorf("unsupported search term %q", term)
		}
		field, value := term[:colon], term[colon+1:]
		value, ok := unquote(value)
		if !ok {
			return nil, fmt.Errorf("search value %q must be quoted", term[colon+1:])
		}
		if strings.HasPrefix(field, "metadata[") && strings.HasSuffix(field, "]") {
			key, ok := unquote(field[len("metadata[") : len(field)-1])
			if !ok {
				return nil, fmt.Errorf("metadata key in %q must be quoted", term)
			}
			field = "metadata[" + key + "]"
		}
		clauses = append(clauses, searchClause{field: field, value: value})
	}
	return clauses, nil
}

func unquote(s string) (string, bool) {
	if len(s) >= 2 && (s[0] == '\'' || s[0] == '"') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1], true
	}
	return "", false
}

// SetSearchLag makes objects searchable only lag after they were created
// (by the stub's clock): Stripe warns that search is not for
// read-after-write, "data is searchable in less than a minute"
// (https://docs.stripe.com/search#data-freshness). Lists are not delayed.
func (s *Stub) SetSearchLag(lag time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.searchLag = lag
}

// searchable keeps the items search can see now; callers hold s.mu.
func searchable[T listed](s *Stub, items []T) []T {
	cutoff := s.Now().Add(-s.searchLag).Unix()
	var out []T
	for _, item := range items {
		if s.searchLag == 0 || item.createdAt() <= cutoff {
			out = append(out, item)
		}
	}
	return out
}

// searchPage answers a search over items that match every clause; page is
// an offset into the newest-first results. Callers hold s.mu.
func searchPage[T listed](form url.Values, path string, items []T, known []string, fields func(T, string) string, render func(T) any) response {
	query := form.Get("query")
	if query == "" {
		return missingParam("query")
	}
	clauses, err := parseSearch(query)
	if err != nil {
		return invalidParams("", "query", err.Error())
	}
	for _, c := range clauses {
		if !strings.HasPrefix(c.field, "metadata[") && !slices.Contains(known, c.field) {
			return invalidParams("", "query", fmt.Sprintf("Field '%s' is not supported by this stand-in's search.", c.field))
		}
	}
	limit, bad := readLimit(form)
	if bad.status != 0 {
		return bad
	}
	offset := 0
	if page := form.Get("page"); page != "" {
		if offset, err = strconv.Atoi(strings.TrimPrefix(page, "page_")); err != nil || offset < 0 {
			return invalidParams("", "page", fmt.Sprintf("Invalid page: %s", page))
		}
	}
	var kept []T
	for _, item := range items {
		if matchesAll(item, clauses, fields) {
			kept = append(kept, item)
		}
	}
	newestFirst(kept)
	kept = kept[min(offset, len(kept)):]
	env := searchEnvelope{Object: "search_result", Data: []any{}, URL: path, HasMore: len(kept) > limit}
	if env.HasMore {
		next := fmt.Sprintf("page_%d", offset+limit)
		env.NextPage = &next
	}
	for _, item := range kept[:min(limit, len(kept))] {
		env.Data = append(env.Data, render(item))
	}
	return jsonResponse(200, env)
}

func matchesAll[T any](item T, clauses []searchClause, fields func(T, string) string) bool {
	for _, c := range clauses {
		if fields(item, c.field) != c.value {
			return false
		}
	}
	return true
}
