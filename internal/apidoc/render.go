package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// The parts of an OpenAPI 3.1 description that the page shows.
type document struct {
	Tags []struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	} `json:"tags"`
	Paths      map[string]map[string]operation `json:"paths"`
	Components struct {
		Schemas map[string]*schema `json:"schemas"`
	} `json:"components"`
}

type operation struct {
	OperationID string      `json:"operationId"`
	Summary     string      `json:"summary"`
	Description string      `json:"description"`
	Tags        []string    `json:"tags"`
	Parameters  []parameter `json:"parameters"`
	RequestBody *struct {
		Required bool                 `json:"required"`
		Content  map[string]mediaType `json:"content"`
	} `json:"requestBody"`
	Responses map[string]struct {
		Description string               `json:"description"`
		Content     map[string]mediaType `json:"content"`
	} `json:"responses"`
}

type parameter struct {
	Name     string  `json:"name"`
	In       string  `json:"in"`
	Required bool    `json:"required"`
	Schema   *schema `json:"schema"`
}

type mediaType struct {
	Schema *schema `json:"schema"`
}

type schema struct {
	Ref                  string             `json:"$ref"`
	Type                 any                `json:"type"` // a name, or a list of names (3.1)
	Format               string             `json:"format"`
	Enum                 []any              `json:"enum"`
	Description          string             `json:"description"`
	Properties           map[string]*schema `json:"properties"`
	Required             []string           `json:"required"`
	Items                *schema            `json:"items"`
	AdditionalProperties any                `json:"additionalProperties"`
	OneOf                []*schema          `json:"oneOf"`
	MinLength            *int               `json:"minLength"`
	MaxLength            *int               `json:"maxLength"`
}

// route is one operation with its method and path.
type route struct {
	method, path string
	op           operation
}

var methodOrder = []string{"get", "post", "put", "patch", "delete"}

// Render returns docs/api.md for the OpenAPI description raw.
func Render(raw []byte) ([]byte, error) {
	var doc document
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("read the OpenAPI description: %w", err)
	}
	byTag := map[string][]route{}
	for path, item := range doc.Paths {
		for method, op := range item {
			if len(op.Tags) != 1 || op.OperationID == "" {
				return nil, fmt.Errorf("%s %s: want one tag and an operationId", strings.ToUpper(method), path)
			}
			byTag[op.Tags[0]] = append(byTag[op.Tags[0]], route{method, path, op})
		}
	}
	var b bytes.Buffer
	b.WriteString(intro)
	for _, tag := range doc.Tags {
		routes := byTag[tag.Name]
		delete(byTag, tag.Name)
		sort.Slice(routes, func(i, j int) bool {
			if routes[i].path != routes[j].path {
				return routes[i].path < routes[j].path
			}
			return slices.Index(methodOrder, routes[i].method) < slices.Index(methodOrder, routes[j].method)
		})
		fmt.Fprintf(&b, "\n## %s\n\n%s\n", tag.Name, tag.Description)
		for _, r := range routes {
			writeRoute(&b, r)
		}
	}
	if len(byTag) > 0 {
		return nil, fmt.Errorf("operations tagged with no tag of the document's list: %v", keys(byTag))
	}
	writeObjects(&b, doc.Components.Schemas)
	b.WriteString("\n" + outro)
	return b.Bytes(), nil
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// writeRoute writes one operation: its route, what it takes, what it answers.
func writeRoute(b *bytes.Buffer, r route) {
	op := r.op
	fmt.Fprintf(b, "\n### %s\n\n`%s %s` · `%s`\n", op.Summary, strings.ToUpper(r.method), r.path, op.OperationID)
	if op.Description != "" {
		fmt.Fprintf(b, "\n%s\n", op.Description)
	}
	var params [][]string
	for _, p := range op.Parameters {
		if p.In == "path" {
			continue // named in the route
		}
		params = append(params, []string{"`" + p.Name + "`", p.In, typeOf(p.Schema), yes(p.Required)})
	}
	if len(params) > 0 {
		b.WriteString("\n")
		table(b, []string{"parameter", "in", "type", "required"}, params)
	}
	if op.RequestBody != nil {
		if s := op.RequestBody.Content["application/json"].Schema; s != nil {
			body := "Body (optional)"
			if op.RequestBody.Required {
				body = "Body"
			}
			fmt.Fprintf(b, "\n%s:\n\n", body)
			table(b, []string{"field", "type", "required"}, fields(s))
		}
	}
	writeAnswers(b, op)
}

// writeAnswers lists the successful answers with their shape, then the
// error statuses (whose body is always an Error).
func writeAnswers(b *bytes.Buffer, op operation) {
	var answers, failures []string
	for _, code := range keys(op.Responses) {
		resp := op.Responses[code]
		if code >= "400" {
			failures = append(failures, code)
			continue
		}
		answer := fmt.Sprintf("%s %s", code, resp.Description)
		if s := resp.Content["application/json"].Schema; s != nil {
			answer = fmt.Sprintf("%s %s", code, typeOf(s))
		}
		answers = append(answers, answer)
	}
	fmt.Fprintf(b, "\nAnswers %s. [Errors](#errors): %s.\n", strings.Join(answers, "; "), strings.Join(failures, ", "))
}

// writeObjects writes each schema once, as a table of its fields.
func writeObjects(b *bytes.Buffer, schemas map[string]*schema) {
	b.WriteString("\n## Objects\n\nEvery answer above that names one of these has this shape, and only this one.\n")
	for _, name := range keys(schemas) {
		s := schemas[name]
		fmt.Fprintf(b, "\n### %s\n\n", name)
		if s.Description != "" {
			fmt.Fprintf(b, "%s\n\n", s.Description)
		}
		if nullable(s) {
			b.WriteString("May be `null`.\n\n")
		}
		table(b, []string{"field", "type", "always present"}, fields(s))
	}
}

// fields lists an object's properties in order of name.
func fields(s *schema) [][]string {
	var rows [][]string
	for _, name := range keys(s.Properties) {
		p := s.Properties[name]
		t := typeOf(p)
		if p.Description != "" {
			t += ": " + p.Description
		}
		rows = append(rows, []string{"`" + name + "`", t, yes(slices.Contains(s.Required, name))})
	}
	return rows
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return ""
}

// table writes a Markdown table; a | in a cell is escaped, so that no cell
// breaks its row.
func table(b *bytes.Buffer, header []string, rows [][]string) {
	line := func(cells []string) {
		escaped := make([]string, len(cells))
		for i, c := range cells {
			escaped[i] = strings.ReplaceAll(c, "|", `\|`)
		}
		fmt.Fprintf(b, "| %s |\n", strings.Join(escaped, " | "))
	}
	line(header)
	line(slices.Repeat([]string{"---"}, len(header)))
	for _, row := range rows {
		line(row)
	}
}
