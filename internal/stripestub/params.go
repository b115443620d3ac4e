package stripestub

import (
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Stripe's form encoding: metadata[key]=value, list[0]=a or list[]=a,
// list[0][field]=value, range[gte]=n.

// mapParam reads name[key]=value pairs.
func mapParam(form url.Values, name string) map[string]string {
	out := map[string]string{}
	prefix := name + "["
	for k, vs := range form {
		if !strings.HasPrefix(k, prefix) || !strings.HasSuffix(k, "]") || len(vs) == 0 {
			continue
		}
		inner := k[len(prefix) : len(k)-1]
		if strings.ContainsAny(inner, "[]") {
			continue
		}
		out[inner] = vs[0]
	}
	return out
}

// listParam reads name[0]=a&name[1]=b (or name[]=a&name[]=b) in order.
func listParam(form url.Values, name string) []string {
	if vs, ok := form[name+"[]"]; ok {
		return append([]string(nil), vs...)
	}
	indexed := mapParam(form, name)
	return valuesByIndex(indexed)
}

func valuesByIndex(indexed map[string]string) []string {
	keys := make([]int, 0, len(indexed))
	for k := range indexed {
		if i, err := strconv.Atoi(k); err == nil {
			keys = append(keys, i)
		}
	}
	sort.Ints(keys)
	out := make([]string, 0, len(keys))
	for _, i := range keys {
		out = append(out, indexed[strconv.Itoa(i)])
	}
	return out
}

// objectList reads name[0][field]=v… into one form per element, in index
// order, each keyed by what follows the index (field, or a[b]).
func objectList(form url.Values, name string) []url.Values {
	byIndex := map[int]url.Values{}
	prefix := name + "["
	for k, vs := range form {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		rest := k[len(prefix):]
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			continue
		}
		i, err := strconv.Atoi(rest[:end])
		if err != nil || !strings.HasPrefix(rest[end+1:], "[") {
			continue
		}
		field := rest[end+2:]
		field = strings.Replace(field, "]", "", 1) // price_data][currency] → price_data[currency]
		if byIndex[i] == nil {
			byIndex[i] = url.Values{}
		}
		byIndex[i][field] = vs
	}
	indexes := make([]int, 0, len(byIndex))
	for i := range byIndex {
		indexes = append(indexes, i)
	}
	sort.Ints(indexes)
	out := make([]url.Values, 0, len(indexes))
	for _, i := range indexes {
		out = append(out, byIndex[i])
	}
	return out
}

// intParam reads an integer parameter; present reports whether it was sent.
func intParam(form url.Values, name string) (value int64, present bool, bad response) {
	raw := form.Get(name)
	if raw == "" {
		return 0, false, response{}
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return 0, true, invalidInteger(name, raw)
	}
	return n, true, response{}
}

func boolParam(form url.Values, name string) bool {
	return form.Get(name) == "true"
}
