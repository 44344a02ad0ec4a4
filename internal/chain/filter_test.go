package chain

import (
	"strings"
	"testing"
	"time"
)

func TestValidateLabels(t *testing.T) {
	many := map[string]string{}
	for i := 0; i <= MaxLabels; i++ {
		many["k"+strings.Repeat("x", i)] = "v"
	}
	for _, tc := range []struct {
		name    string
		labels  map[string]string
		wantErr string
	}{
		{"none", nil, ""},
		{"usual", map[string]string{"tier": "weekly", "app.kubernetes.io/name": "db", "owner_team": "storage-1"}, ""},
		{"empty key", map[string]string{"": "x"}, `label key ""`},
		{"space in key", map[string]string{"my tier": "x"}, `label key "my tier"`},
		{"long key", map[string]string{strings.Repeat("k", MaxLabelKeyLen+1): "x"}, "a key is 1 to 128"},
		{"control in value", map[string]string{"tier": "a\nb"}, `label "tier"`},
		{"invalid utf-8", map[string]string{"tier": "\xff"}, `label "tier"`},
		{"long value", map[string]string{"tier": strings.Repeat("v", MaxLabelValueLen+1)}, "at most 512 bytes"},
		{"too many", many, "at most 64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateLabels(tc.labels)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("ValidateLabels = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestFilterSelect(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 11, d, 3, 0, 0, 0, time.UTC) }
	records := []Record{
		{ID: "a", Kind: Full, CreatedAt: day(23).Add(400 * time.Millisecond), Labels: map[string]string{"tier": "weekly", "app": "db"}},
		{ID: "b", Kind: Incremental, CreatedAt: day(24), Labels: map[string]string{"tier": "daily", "app": "db"}},
		{ID: "c", Kind: Incremental, CreatedAt: day(25), Labels: map[string]string{"tier": "daily"}},
		{ID: "d", Kind: Full, CreatedAt: day(30)},
	}
	for _, tc := range []struct {
		name   string
		filter Filter
		want   string
	}{
		{"everything", Filter{}, "abcd"},
		{"kind", Filter{Kind: Incremental}, "bc"},
		{"one label", Filter{Labels: map[string]string{"app": "db"}}, "ab"},
		{"all labels must match", Filter{Labels: map[string]string{"app": "db", "tier": "daily"}}, "b"},
		{"label value differs", Filter{Labels: map[string]string{"tier": "monthly"}}, ""},
		{"after is strict", Filter{CreatedAfter: day(24)}, "cd"},
		{"before is strict", Filter{CreatedBefore: day(25)}, "ab"},
		{"to the second, as shown", Filter{CreatedAfter: day(23)}, "bcd"},
		{"window and kind", Filter{CreatedAfter: day(23), CreatedBefore: day(30), Kind: Incremental}, "bc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			for _, r := range tc.filter.Select(records) {
				got += r.ID
			}
			if got != tc.want {
				t.Fatalf("Select = %q, want %q", got, tc.want)
			}
		})
	}
}
