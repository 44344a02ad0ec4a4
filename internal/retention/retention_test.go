package retention

import (
	"reflect"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // named zones without relying on the machine's zoneinfo
)

func at(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestPeriods(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		now      time.Time
		schedule string
		count    int
		want     []string
	}{
		{"weekly", at(t, "2026-11-28T06:00:00Z"), "weekly", 4, []string{"2026-w48", "2026-w47", "2026-w46", "2026-w45"}},
		{"weekly on a Monday", at(t, "2026-11-23T00:00:00Z"), "weekly", 2, []string{"2026-w48", "2026-w47"}},
		{"weekly on a Sunday", at(t, "2026-11-29T23:59:59Z"), "weekly", 1, []string{"2026-w48"}},
		// 2026 has 53 ISO weeks; 2027-01-01 is a Friday of week 53 of 2026.
		{"ISO week 53 into the new year", at(t, "2027-01-01T12:00:00Z"), "weekly", 2, []string{"2026-w53", "2026-w52"}},
		{"year change", at(t, "2027-01-04T08:00:00Z"), "weekly", 3, []string{"2027-w01", "2026-w53", "2026-w52"}},
		// 2024-12-30 is in ISO week 1 of 2025.
		{"ISO year ahead of the calendar year", at(t, "2024-12-31T08:00:00Z"), "weekly", 2, []string{"2025-w01", "2024-w52"}},
		{"daily", at(t, "2026-11-28T06:00:00Z"), "daily", 3, []string{"2026-11-28", "2026-11-27", "2026-11-26"}},
		{"daily over a year change", at(t, "2027-01-01T00:00:00Z"), "daily", 2, []string{"2027-01-01", "2026-12-31"}},
		{"daily over a leap day", at(t, "2028-03-01T10:00:00Z"), "daily", 3, []string{"2028-03-01", "2028-02-29", "2028-02-28"}},
		{"monthly", at(t, "2026-11-28T06:00:00Z"), "monthly", 3, []string{"2026-11", "2026-10", "2026-09"}},
		{"monthly over a year change on the 31st", at(t, "2027-01-31T06:00:00Z"), "monthly", 3, []string{"2027-01", "2026-12", "2026-11"}},
		// The keys follow now's zone: 23:30 UTC on Sunday is Monday in Berlin.
		{"zone of now", at(t, "2026-11-29T23:30:00Z").In(berlin), "weekly", 1, []string{"2026-w49"}},
		// Berlin leaves summer time at 03:00 on 2026-10-25, a 25-hour day;
		// stepping back by days must not skip or repeat one.
		{"DST end in Berlin", time.Date(2026, 10, 26, 0, 30, 0, 0, berlin), "daily", 3, []string{"2026-10-26", "2026-10-25", "2026-10-24"}},
		{"DST start in Berlin", time.Date(2026, 3, 30, 0, 30, 0, 0, berlin), "daily", 3, []string{"2026-03-30", "2026-03-29", "2026-03-28"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Periods(c.now, c.schedule, c.count)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("Periods(%s, %q, %d) = %q, want %q", c.now.Format(time.RFC3339), c.schedule, c.count, got, c.want)
			}
		})
	}
}

func TestPeriodsRefusesBadInput(t *testing.T) {
	now := at(t, "2026-11-28T06:00:00Z")
	if _, err := Periods(now, "fortnightly", 2); err == nil || !strings.Contains(err.Error(), "daily, weekly, monthly") {
		t.Errorf("unknown schedule: err = %v, want one naming the schedules", err)
	}
	if _, err := Periods(now, "weekly", 0); err == nil || !strings.Contains(err.Error(), "from 1") {
		t.Errorf("count 0: err = %v, want from 1", err)
	}
}

func TestDaysSoFar(t *testing.T) {
	cases := []struct {
		name, now, schedule string
		want                []string
	}{
		{"weekly, Saturday", "2026-11-28T06:00:00Z", "weekly", []string{"2026-11-23", "2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27", "2026-11-28"}},
		{"weekly, Monday", "2026-11-23T00:00:00Z", "weekly", []string{"2026-11-23"}},
		{"weekly, week 53 over the year change", "2027-01-02T06:00:00Z", "weekly", []string{"2026-12-28", "2026-12-29", "2026-12-30", "2026-12-31", "2027-01-01", "2027-01-02"}},
		{"monthly, leap day", "2028-02-29T06:00:00Z", "monthly", nil},
		{"daily", "2026-11-28T06:00:00Z", "daily", []string{"2026-11-28"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := DaysSoFar(at(t, c.now), c.schedule)
			if err != nil {
				t.Fatal(err)
			}
			if c.want == nil { // a whole month: check its ends and length
				if len(got) != 29 || got[0] != "2028-02-01" || got[28] != "2028-02-29" {
					t.Errorf("DaysSoFar(%s, monthly) = %q, want 2028-02-01 to 2028-02-29", c.now, got)
				}
				return
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("DaysSoFar(%s, %q) = %q, want %q", c.now, c.schedule, got, c.want)
			}
		})
	}
	if _, err := DaysSoFar(at(t, "2026-11-28T06:00:00Z"), "hourly"); err == nil {
		t.Error("DaysSoFar accepted the unknown schedule hourly")
	}
}

func TestParseRule(t *testing.T) {
	r, err := ParseRule("latest3, hours24,days7,weeks4,months12,years2")
	if err != nil {
		t.Fatal(err)
	}
	if want := (Rule{Latest: 3, Hours: 24, Days: 7, Weeks: 4, Months: 12, Years: 2}); r != want {
		t.Errorf("ParseRule = %+v, want %+v", r, want)
	}
	for rule, want := range map[string]string{
		"":                 "empty",
		"latest3,,days7":   `term ""`,
		"days":             `term "days"`,
		"fortnights2":      `term "fortnights2"`,
		"days7,days3":      "given twice",
		"latest0":          "from 1 to",
		"latest-1":         `term "latest-1"`,
		"weeks99999999999": "from 1 to",
	} {
		if _, err := ParseRule(rule); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseRule(%q): err = %v, want one containing %q", rule, err, want)
		}
	}
}

func TestApply(t *testing.T) {
	now := at(t, "2026-11-28T12:00:00Z") // a Saturday in ISO week 48
	cases := []struct {
		name, rule string
		items      []string
		want       []string
	}{
		{"empty input", "latest3,days7", nil, []string{}},
		{"latest", "latest2", []string{"2026-11-20T00:00:00Z", "2026-11-27T00:00:00Z", "2026-11-25T00:00:00Z"},
			[]string{"2026-11-27T00:00:00Z", "2026-11-25T00:00:00Z"}},
		{"duplicates once", "latest2", []string{"2026-w48", "2026-w48", "2026-w47"}, []string{"2026-w48", "2026-w47"}},
		// Oldest of each day: 06:00 on the 28th, not 11:00.
		{"days keep the oldest of each day", "days2", []string{"2026-11-28T06:00:00Z", "2026-11-28T11:00:00Z", "2026-11-27T23:00:00Z", "2026-11-26T23:00:00Z"},
			[]string{"2026-11-28T06:00:00Z", "2026-11-27T23:00:00Z"}},
		{"hours", "hours2", []string{"2026-11-28T12:00:00Z", "2026-11-28T11:59:00Z", "2026-11-28T11:01:00Z", "2026-11-28T10:30:00Z"},
			[]string{"2026-11-28T12:00:00Z", "2026-11-28T11:01:00Z"}},
		{"weeks of week keys", "weeks4", []string{"2026-w44", "2026-w45", "2026-w46", "2026-w47", "2026-w48"},
			[]string{"2026-w48", "2026-w47", "2026-w46", "2026-w45"}},
		{"tiers together", "latest1,weeks2,months3", []string{
			"2026-08-31", "2026-09-01", "2026-09-15", "2026-10-05", "2026-11-16", "2026-11-18", "2026-11-23", "2026-11-27"},
			// latest1: 11-27; weeks2: w48's oldest 11-23, w47's 11-16; months3: 11-16, 10-05, 09-01.
			[]string{"2026-11-27", "2026-11-23", "2026-11-16", "2026-10-05", "2026-09-01"}},
		{"day and month keys", "days2,months2", []string{"2026-10", "2026-11", "2026-11-27", "2026-11-28"},
			[]string{"2026-11-28", "2026-11-27", "2026-11", "2026-10"}},
		{"years over the year change", "years2", []string{"2025-01-01T00:00:00Z", "2025-12-31T23:00:00Z", "2026-01-01T00:00:00Z"},
			[]string{"2026-01-01T00:00:00Z", "2025-01-01T00:00:00Z"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rule, err := ParseRule(c.rule)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Apply(now, rule, c.items)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("Apply(%q, %q) = %q, want %q", c.rule, c.items, got, c.want)
			}
		})
	}
}

func TestApplyOverALeapDay(t *testing.T) {
	got, err := Apply(at(t, "2028-03-01T10:00:00Z"), Rule{Days: 2}, []string{"2028-02-28", "2028-02-29", "2028-03-01"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"2028-03-01", "2028-02-29"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Apply(days2) on 2028-03-01 = %q, want %q", got, want)
	}
}

// The week of a timestamp is its week in now's zone: in Berlin, 23:30 UTC on
// Sunday is already Monday, the next week.
func TestApplyUsesTheZoneOfNow(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	now := at(t, "2026-12-01T12:00:00Z").In(berlin)
	items := []string{"2026-11-29T22:30:00Z", "2026-11-29T23:30:00Z", "2026-11-30T08:00:00+01:00"}
	got, err := Apply(now, Rule{Weeks: 1}, items)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"2026-11-29T23:30:00Z"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Apply(weeks1) in Berlin = %q, want %q", got, want)
	}
}

func TestApplyRefusesBadItems(t *testing.T) {
	now := at(t, "2026-11-28T12:00:00Z")
	for item, want := range map[string]string{
		"yesterday":            "neither an RFC 3339 timestamp",
		"2026-13-01":           "neither",
		"2026-w54":             "no ISO week 54",
		"2025-w53":             "no ISO week 53",
		"2026-w00":             "no ISO week 0",
		"2026-11-29T00:00:00Z": "after now",
	} {
		if _, err := Apply(now, Rule{Latest: 1}, []string{item}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Apply(%q): err = %v, want one containing %q", item, err, want)
		}
	}
}
