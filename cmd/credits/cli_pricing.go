package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/credits/credits"
)

// The pricing commands' help (credits GROUP -h).
func init() {
	groups["features"] = []subcommandHelp{
		{"list", "", "the features usage is priced for (also: credits features)"},
		{"create", "--id ID --name N --unit U", "add a feature to meter"},
	}
	groups["rates"] = []subcommandHelp{
		{"create", "ID FILE --name N", "create a rate card, version 1 from FILE (a JSON array of rates; docs/pricing.md)"},
		{"import", "ID FILE [--effective-at T]", "add the next version of a rate card from FILE"},
		{"show", "ID [--version N]", "a rate card's versions and the rates in effect (or of version N)"},
	}
	groups["accounts"] = append(groups["accounts"], subcommandHelp{"usage", "ID [--days 30] [--group-by G]", "credits and units used, by feature and/or day"})
}

// features lists the features (no subcommand) or creates one.
func (c *CLI) features(ctx context.Context, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") && !isHelp(args[0]) {
		args = append([]string{"list"}, args...)
	}
	name, args, err := c.subcommand(args, "features")
	if err != nil {
		return err
	}
	cmd := c.newCommand("features "+name, true)
	var f credits.Feature
	if name == "create" {
		cmd.fs.StringVar(&f.ID, "id", "", "the feature's id, as usage names it (required)")
		cmd.fs.StringVar(&f.Name, "name", "", "its name (required)")
		cmd.fs.StringVar(&f.Unit, "unit", "", "what its quantity counts: tokens, image, second (required)")
	}
	if _, err := cmd.parse(args, 0); err != nil {
		return err
	}
	return withService(ctx, cmd, func(svc *credits.Service) error {
		if name == "create" {
			created, err := svc.CreateFeature(ctx, f)
			if err != nil {
				return err
			}
			return c.print(cmd, created, "", func(w io.Writer) { fmt.Fprintf(w, "created feature %s (%s)\n", created.ID, created.Unit) })
		}
		features, err := svc.ListFeatures(ctx)
		if err != nil {
			return err
		}
		return c.print(cmd, features, "ID\tNAME\tUNIT", func(w io.Writer) {
			for _, f := range features {
				fmt.Fprintf(w, "%s\t%s\t%s\n", f.ID, f.Name, f.Unit)
			}
		})
	})
}

// rateFile is a file of rates: a JSON array of rates, or an object with the
// rates, rounding and minimum.
type rateFile struct {
	Rates    []credits.Rate `json:"rates"`
	Rounding string         `json:"rounding"`
	Minimum  int64          `json:"minimum"`
}

func readRateFile(path string) (rateFile, error) {
	var f rateFile
	b, err := os.ReadFile(path)
	if err != nil {
		return f, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if trimmed := bytes.TrimSpace(b); len(trimmed) > 0 && trimmed[0] == '[' {
		err = dec.Decode(&f.Rates)
	} else {
		err = dec.Decode(&f)
	}
	if err != nil {
		return f, credits.Errorf(credits.EINVALID, "%s is not a JSON array of rates or an object with rates: %v", path, err)
	}
	return f, nil
}

// rates runs rates create ID FILE, import ID FILE (the next version) and
// show ID.
func (c *CLI) rates(ctx context.Context, args []string) error {
	name, args, err := c.subcommand(args, "rates")
	if err != nil {
		return err
	}
	cmd := c.newCommand("rates "+name, true)
	cardName := cmd.fs.String("name", "", "the rate card's name (create; required)")
	effective := cmd.fs.String("effective-at", "", "when the version takes effect (RFC 3339; now when empty)")
	version := cmd.fs.Int64("version", 0, "show this version (show; the one in effect when 0)")
	positional := 2
	if name == "show" {
		positional = 1
	}
	rest, err := cmd.parse(args, positional)
	if err != nil {
		return err
	}
	if name == "show" {
		return withService(ctx, cmd, func(svc *credits.Service) error { return c.showRates(ctx, cmd, svc, rest[0], *version) })
	}
	file, err := readRateFile(rest[1])
	if err != nil {
		return err
	}
	req := credits.RateCardRequest{ID: rest[0], Name: *cardName, Rates: file.Rates, Rounding: file.Rounding, Minimum: file.Minimum}
	if *effective != "" {
		t, err := time.Parse(time.RFC3339, *effective)
		if err != nil {
			return credits.Errorf(credits.EINVALID, "--effective-at must be an RFC 3339 time, like 2027-01-31T00:00:00Z")
		}
		req.EffectiveAt = &t
	}
	return withService(ctx, cmd, func(svc *credits.Service) error {
		var v credits.RateCardVersion
		if name == "create" {
			v, err = svc.CreateRateCard(ctx, req)
		} else {
			v, err = svc.AddRateCardVersion(ctx, rest[0], req)
		}
		if err != nil {
			return err
		}
		return c.print(cmd, v, "", func(w io.Writer) {
			fmt.Fprintf(w, "rate card %s version %d: %d rates, rounding %s, minimum %d, effective %s\n", v.RateCardID, v.Version,
				len(v.Rates), v.Rounding, v.Minimum, v.EffectiveAt.Format(time.RFC3339))
		})
	})
}

func (c *CLI) showRates(ctx context.Context, cmd *command, svc *credits.Service, id string, n int64) error {
	card, err := svc.GetRateCard(ctx, id)
	if err != nil {
		return err
	}
	v := card.Current
	if n > 0 {
		got, err := svc.GetRateCardVersion(ctx, id, n)
		if err != nil {
			return err
		}
		v = &got
	}
	if cmd.json && n > 0 {
		return c.print(cmd, v, "", nil)
	}
	return c.print(cmd, card, "VERSION\tEFFECTIVE AT\tROUNDING\tMINIMUM\tRATES", func(w io.Writer) {
		for _, ver := range card.Versions {
			fmt.Fprintf(w, "%d\t%s\t%s\t%d\t%d\n", ver.Version, ver.EffectiveAt.Format(time.RFC3339), ver.Rounding, ver.Minimum, len(ver.Rates))
		}
		if v == nil {
			fmt.Fprintf(w, "\nno version of %s is in effect yet\n", id)
			return
		}
		fmt.Fprintf(w, "\nversion %d:\nFEATURE\tQUANTITY\tCREDITS\tPER\tMATCH\n", v.Version)
		for _, r := range v.Rates {
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\n", r.Feature, r.Quantity, r.Credits, r.Per, formatMatch(r.Match))
		}
	})
}

func formatMatch(m map[string]string) string {
	if len(m) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(m))
	for k, v := range m {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// accountUsage prints an account's usage totals (accounts usage ID).
func (c *CLI) accountUsage(ctx context.Context, cmd *command, args []string) error {
	days := cmd.fs.Int("days", 30, "the last this many days")
	groupBy := cmd.fs.String("group-by", "feature", "feature, day or feature,day")
	rest, err := cmd.parse(args, 1)
	if err != nil {
		return err
	}
	return withService(ctx, cmd, func(svc *credits.Service) error {
		to := svc.Now()
		totals, err := svc.UsageTotals(ctx, rest[0], to.Add(-time.Duration(*days)*24*time.Hour), to, *groupBy)
		if err != nil {
			return err
		}
		return c.print(cmd, totals, "FEATURE\tDAY\tUSAGES\tCREDITS\tUNITS", func(w io.Writer) {
			for _, t := range totals {
				fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\n", dash(t.Feature), dash(t.Day), t.Usages, t.Credits, formatUnits(t.Units))
			}
		})
	})
}

func formatUnits(units map[string]int64) string {
	parts := make([]string, 0, len(units))
	for k, v := range units {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}
