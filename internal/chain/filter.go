package chain

import (
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on labels: they live in each record on the backup image, which is
// read whole on every plan.
const (
	MaxLabels          = 64
	MaxLabelKeyLen     = 128
	MaxLabelValueLen   = 512
	labelKeyCharacters = "letters, digits, '.', '_', '-' and '/'"
)

// ValidateLabels reports the first label a backup cannot record, naming it.
func ValidateLabels(labels map[string]string) error {
	if len(labels) > MaxLabels {
		return fmt.Errorf("%d labels: at most %d are kept with a backup", len(labels), MaxLabels)
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "" || len(k) > MaxLabelKeyLen || strings.IndexFunc(k, notKeyRune) >= 0 {
			return fmt.Errorf("label key %q: a key is 1 to %d of %s", k, MaxLabelKeyLen, labelKeyCharacters)
		}
		v := labels[k]
		if len(v) > MaxLabelValueLen || !utf8.ValidString(v) || strings.IndexFunc(v, isControl) >= 0 {
			return fmt.Errorf("label %q: a value is at most %d bytes of UTF-8 text without control characters", k, MaxLabelValueLen)
		}
	}
	return nil
}

func notKeyRune(r rune) bool {
	return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && !strings.ContainsRune("._-/", r)
}

// Filter selects restore points; zero fields select everything.
type Filter struct {
	Labels        map[string]string // every pair must be on the record
	Kind          Kind
	CreatedAfter  time.Time // strictly after
	CreatedBefore time.Time // strictly before
}

// Match reports whether r passes every condition of f.
func (f Filter) Match(r Record) bool {
	if f.Kind != "" && r.Kind != f.Kind {
		return false
	}
	// Times are shown, and so compared, to the second: a filter set to a
	// point's own created_at leaves that point out.
	at := r.CreatedAt.Truncate(time.Second)
	if !f.CreatedAfter.IsZero() && !at.After(f.CreatedAfter) {
		return false
	}
	if !f.CreatedBefore.IsZero() && !at.Before(f.CreatedBefore) {
		return false
	}
	for k, v := range f.Labels {
		if got, ok := r.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Select returns the records f matches, in their order.
func (f Filter) Select(records []Record) []Record {
	var out []Record
	for _, r := range records {
		if f.Match(r) {
			out = append(out, r)
		}
	}
	return out
}
