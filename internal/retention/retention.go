// Package retention turns a time and a schedule into the keys of backup
// chains to keep, and applies Benji-style retention rules to lists of
// timestamps or keys. It is pure: "now" is always passed in.
//
// Keys are calendar periods in the time zone (UTC offset) of now:
// daily "2026-11-28", weekly ISO weeks "2026-w48", monthly "2026-11". They
// sort as strings in time order.
package retention

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Schedules accepted by Periods and DaysSoFar.
var Schedules = []string{"daily", "weekly", "monthly"}

// day is a calendar date, free of clock times and DST: arithmetic on it is
// done on UTC midnights.
type day struct{ t time.Time }

func dayOf(t time.Time) day {
	y, m, d := t.Date()
	return day{time.Date(y, m, d, 0, 0, 0, 0, time.UTC)}
}

func (d day) add(n int) day { return day{d.t.AddDate(0, 0, n)} }

func (d day) key() string { return d.t.Format("2006-01-02") }

func weekKey(d day) string {
	y, w := d.t.ISOWeek()
	return fmt.Sprintf("%04d-w%02d", y, w)
}

func monthKey(d day) string { return d.t.Format("2006-01") }

// weekStart is the Monday of d's ISO week.
func weekStart(d day) day {
	return d.add(-((int(d.t.Weekday()) + 6) % 7))
}

// CheckSchedule refuses a schedule that is not one of Schedules.
func CheckSchedule(schedule string) error {
	for _, s := range Schedules {
		if s == schedule {
			return nil
		}
	}
	return fmt.Errorf("unknown schedule %q: use one of %s", schedule, strings.Join(Schedules, ", "))
}

// Periods is the keys of the count periods of schedule up to and including
// the one now is in, newest first.
func Periods(now time.Time, schedule string, count int) ([]string, error) {
	if err := CheckSchedule(schedule); err != nil {
		return nil, err
	}
	if count < 1 || count > maxCount {
		return nil, fmt.Errorf("count is %d: it must be from 1 (the current period only) to %d", count, maxCount)
	}
	today := dayOf(now)
	keys := make([]string, 0, count)
	for i := 0; i < count; i++ {
		switch schedule {
		case "daily":
			keys = append(keys, today.add(-i).key())
		case "weekly":
			keys = append(keys, weekKey(weekStart(today).add(-7*i)))
		case "monthly":
			first := day{time.Date(today.t.Year(), today.t.Month()-time.Month(i), 1, 0, 0, 0, 0, time.UTC)}
			keys = append(keys, monthKey(first))
		}
	}
	return keys, nil
}

// DaysSoFar is the day keys of the period of schedule that now is in, from
// its first day up to and including now's day, oldest first.
func DaysSoFar(now time.Time, schedule string) ([]string, error) {
	if err := CheckSchedule(schedule); err != nil {
		return nil, err
	}
	today := dayOf(now)
	first := today
	switch schedule {
	case "weekly":
		first = weekStart(today)
	case "monthly":
		first = today.add(1 - today.t.Day())
	}
	var keys []string
	for d := first; !d.t.After(today.t); d = d.add(1) {
		keys = append(keys, d.key())
	}
	return keys, nil
}

// Rule is a parsed retention rule: keep the Latest newest items, and the
// oldest item of each of the last N hours, days, ISO weeks, months and years.
type Rule struct {
	Latest, Hours, Days, Weeks, Months, Years int
}

// maxCount bounds a term's count; a century of hours is far more than any
// retention keeps.
const maxCount = 1000000

var ruleTerm = regexp.MustCompile(`^(latest|hours|days|weeks|months|years)([0-9]+)$`)

// ParseRule reads a rule such as "latest3,hours24,days7,weeks4,months12".
func ParseRule(s string) (Rule, error) {
	var r Rule
	if strings.TrimSpace(s) == "" {
		return r, fmt.Errorf("the rule is empty: give comma-separated terms such as latest3,days7,weeks4,months12")
	}
	seen := map[string]bool{}
	for _, term := range strings.Split(s, ",") {
		term = strings.TrimSpace(term)
		m := ruleTerm.FindStringSubmatch(term)
		if m == nil {
			return r, fmt.Errorf("rule term %q is not one of latestN, hoursN, daysN, weeksN, monthsN, yearsN (N a whole number)", term)
		}
		if seen[m[1]] {
			return r, fmt.Errorf("rule term %q: %s is given twice", term, m[1])
		}
		seen[m[1]] = true
		n, err := strconv.Atoi(m[2])
		if err != nil || n < 1 || n > maxCount {
			return r, fmt.Errorf("rule term %q: the count must be from 1 to %d", term, maxCount)
		}
		switch m[1] {
		case "latest":
			r.Latest = n
		case "hours":
			r.Hours = n
		case "days":
			r.Days = n
		case "weeks":
			r.Weeks = n
		case "months":
			r.Months = n
		case "years":
			r.Years = n
		}
	}
	return r, nil
}

var (
	dayKeyRe   = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	weekKeyRe  = regexp.MustCompile(`^(\d{4})-w(\d{2})$`)
	monthKeyRe = regexp.MustCompile(`^\d{4}-\d{2}$`)
)

// ParseItem reads an RFC 3339 timestamp or a period key; a key stands for
// the start of its period in loc.
func ParseItem(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	switch {
	case dayKeyRe.MatchString(s):
		if t, err := time.ParseInLocation("2006-01-02", s, loc); err == nil {
			return t, nil
		}
	case monthKeyRe.MatchString(s):
		if t, err := time.ParseInLocation("2006-01", s, loc); err == nil {
			return t, nil
		}
	case weekKeyRe.MatchString(s):
		m := weekKeyRe.FindStringSubmatch(s)
		y, _ := strconv.Atoi(m[1])
		w, _ := strconv.Atoi(m[2])
		// January 4th is always in ISO week 1.
		monday := weekStart(day{time.Date(y, 1, 4, 0, 0, 0, 0, time.UTC)}).add(7 * (w - 1))
		if gy, gw := monday.t.ISOWeek(); w >= 1 && gy == y && gw == w {
			return time.Date(monday.t.Year(), monday.t.Month(), monday.t.Day(), 0, 0, 0, 0, loc), nil
		}
		return time.Time{}, fmt.Errorf("%q: year %d has no ISO week %d", s, y, w)
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 timestamp (2026-11-28T06:00:00Z) nor a period key (2026-11-28, 2026-w48, 2026-11)", s)
}

// Apply returns the items that rule keeps at now, newest first, each once.
// An item is kept when it is one of the Latest newest, or the oldest item of
// its hour, day, ISO week, month or year among the last N of them (the
// current one included), counted in now's time zone. Keeping the oldest of
// each period makes the choice stable: later items never displace it.
func Apply(now time.Time, rule Rule, items []string) ([]string, error) {
	type item struct {
		s string
		t time.Time
	}
	loc := now.Location()
	seen := map[string]bool{}
	var all []item
	for _, s := range items {
		if seen[s] {
			continue
		}
		seen[s] = true
		t, err := ParseItem(s, loc)
		if err != nil {
			return nil, err
		}
		if t.After(now) {
			return nil, fmt.Errorf("%q is after now (%s): retention can only judge the past", s, now.Format(time.RFC3339))
		}
		all = append(all, item{s, t.In(loc)})
	}
	// Oldest first, so the first item met in a period is its oldest.
	sort.SliceStable(all, func(i, j int) bool { return all[i].t.Before(all[j].t) })

	keep := map[string]bool{}
	for i := len(all) - rule.Latest; i < len(all); i++ {
		if i >= 0 {
			keep[all[i].s] = true
		}
	}
	today := dayOf(now)
	nowHour := now.Truncate(time.Hour)
	tiers := []struct {
		n     int
		index func(t time.Time) int // periods back from now's: 0 is the current one
	}{
		{rule.Hours, func(t time.Time) int { return int(nowHour.Sub(t.Truncate(time.Hour)) / time.Hour) }},
		{rule.Days, func(t time.Time) int { return int(today.t.Sub(dayOf(t).t) / (24 * time.Hour)) }},
		{rule.Weeks, func(t time.Time) int {
			return int(weekStart(today).t.Sub(weekStart(dayOf(t)).t) / (7 * 24 * time.Hour))
		}},
		{rule.Months, func(t time.Time) int {
			return (now.Year()-t.Year())*12 + int(now.Month()) - int(t.Month())
		}},
		{rule.Years, func(t time.Time) int { return now.Year() - t.Year() }},
	}
	for _, tier := range tiers {
		if tier.n == 0 {
			continue
		}
		taken := map[int]bool{}
		for _, it := range all {
			if i := tier.index(it.t); i < tier.n && !taken[i] {
				taken[i] = true
				keep[it.s] = true
			}
		}
	}
	kept := []string{}
	for i := len(all) - 1; i >= 0; i-- {
		if keep[all[i].s] {
			kept = append(kept, all[i].s)
		}
	}
	return kept, nil
}
