package main

import (
	"fmt"
	"slices"
	"strings"
)

// typeOf names a schema's type in words, linking the objects it refers to.
func typeOf(s *schema) string {
	if s == nil {
		return "any"
	}
	if s.Ref != "" {
		name := s.Ref[strings.LastIndex(s.Ref, "/")+1:]
		return fmt.Sprintf("[%s](#%s)", name, strings.ToLower(name))
	}
	if len(s.OneOf) > 0 {
		var alternatives []string
		for _, o := range s.OneOf {
			alternatives = append(alternatives, typeOf(o))
		}
		return strings.Join(alternatives, " or ")
	}
	names := typeNames(s)
	var base string
	switch main := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == "null" }); {
	case len(main) == 0 && len(names) > 0:
		base = "null"
	case len(main) == 0 || main[0] == "object":
		base = objectType(s)
	case main[0] == "array":
		base = "list of " + typeOf(s.Items)
	default:
		base = scalarType(main[0], s)
	}
	if nullable(s) && base != "null" {
		base += " or null"
	}
	return base
}

func typeNames(s *schema) []string {
	switch t := s.Type.(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, n := range t {
			out = append(out, fmt.Sprint(n))
		}
		return out
	}
	return nil
}

func nullable(s *schema) bool {
	return slices.Contains(typeNames(s), "null")
}

func objectType(s *schema) string {
	if len(s.Properties) > 0 {
		var parts []string
		for _, name := range keys(s.Properties) {
			parts = append(parts, fmt.Sprintf("`%s`: %s", name, typeOf(s.Properties[name])))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	if ap, ok := s.AdditionalProperties.(map[string]any); ok {
		return "map of string to " + scalarOrAny(ap)
	}
	return "object"
}

// scalarOrAny names the type of additionalProperties, which the document
// gives as a plain object.
func scalarOrAny(raw map[string]any) string {
	if props, ok := raw["properties"].(map[string]any); ok {
		return "{" + strings.Join(keys(props), ", ") + "}"
	}
	if t, ok := raw["type"].(string); ok {
		return scalarType(t, &schema{Format: fmt.Sprint(raw["format"])})
	}
	return "any"
}

func scalarType(name string, s *schema) string {
	if len(s.Enum) > 0 {
		var values []string
		for _, v := range s.Enum {
			values = append(values, fmt.Sprintf("`%v`", v))
		}
		return "one of " + strings.Join(values, ", ")
	}
	switch {
	case name == "string" && s.Format == "date-time":
		return "time"
	case name == "integer":
		return "integer"
	case name == "string" && s.MinLength != nil && s.MaxLength != nil:
		return fmt.Sprintf("string (%d–%d characters)", *s.MinLength, *s.MaxLength)
	}
	return name
}
