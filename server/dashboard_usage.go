package server

import (
	"sort"
	"strings"
)

// formatUnits writes a usage's units for the customer page: "1,234 input ·
// 567 output tokens"; a lone quantity named quantity is "3 image".
func formatUnits(units map[string]int64, unit string) string {
	names := make([]string, 0, len(units))
	for name := range units {
		names = append(names, name)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, name := range names {
		if name == "quantity" {
			parts = append(parts, formatNumber(units[name]))
		} else {
			parts = append(parts, formatNumber(units[name])+" "+name)
		}
	}
	s := strings.Join(parts, " · ")
	if unit != "" {
		s += " " + unit
	}
	return s
}
