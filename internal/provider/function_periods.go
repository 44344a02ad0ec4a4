package provider

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/function"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/retention"
)

var _ function.Function = &periodsFunction{}

// NewPeriodsFunction is provider::cephbackup::periods.
func NewPeriodsFunction() function.Function { return &periodsFunction{} }

type periodsFunction struct{}

// nowParameter is the first parameter of every function: a time, never read
// from the clock, so plans are reproducible and a rollover can be shown.
var nowParameter = function.StringParameter{
	Name: "now",
	MarkdownDescription: "The time to compute from, as an RFC 3339 timestamp: `plantimestamp()` in a scheduled pipeline, " +
		"or a fixed time such as `\"2026-11-28T06:00:00Z\"` to see what a given day's plan does. " +
		"Periods are calendar periods in its UTC offset (`2026-11-30T00:30:00+01:00` is a Monday).",
}

// openTofuNote ends each function's description: OpenTofu configures the
// provider before calling a function, Terraform does not.
const openTofuNote = " With OpenTofu, the configuration needs a `provider \"cephbackup\"` block whose settings are valid " +
	"(OpenTofu configures the provider before calling its functions; the function connects to no cluster)."

// parseNow reads the now argument (index 0).
func parseNow(s string) (time.Time, *function.FuncError) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, function.NewArgumentFuncError(0, fmt.Sprintf(
			"now is %q, which is not an RFC 3339 timestamp: pass plantimestamp() or a time such as \"2026-11-28T06:00:00Z\"", s))
	}
	return t, nil
}

func (f *periodsFunction) Metadata(_ context.Context, _ function.MetadataRequest, resp *function.MetadataResponse) {
	resp.Name = "periods"
}

func (f *periodsFunction) Definition(_ context.Context, _ function.DefinitionRequest, resp *function.DefinitionResponse) {
	resp.Definition = function.Definition{
		Summary: "The keys of the periods to keep a backup chain for, newest first",
		MarkdownDescription: "Returns the keys of the `count` newest periods of `schedule` up to `now`, newest first: " +
			"`\"daily\"` gives `2026-11-28`, `\"weekly\"` ISO weeks such as `2026-w48`, `\"monthly\"` `2026-11`. " +
			"`for_each` over them (with `toset`) starts a new chain when a period begins and destroys the oldest " +
			"one when it ages out, with no edit to the configuration. Keys sort as strings in time order." + openTofuNote,
		Parameters: []function.Parameter{
			nowParameter,
			function.StringParameter{Name: "schedule", MarkdownDescription: "`\"daily\"`, `\"weekly\"` (ISO weeks, Monday to Sunday) or `\"monthly\"`."},
			function.Int64Parameter{Name: "count", MarkdownDescription: "How many periods, the current one included (at least 1)."},
		},
		Return: function.ListReturn{ElementType: types.StringType},
	}
}

func (f *periodsFunction) Run(ctx context.Context, req function.RunRequest, resp *function.RunResponse) {
	var nowArg, schedule string
	var count int64
	if resp.Error = req.Arguments.Get(ctx, &nowArg, &schedule, &count); resp.Error != nil {
		return
	}
	now, ferr := parseNow(nowArg)
	if ferr != nil {
		resp.Error = ferr
		return
	}
	if err := retention.CheckSchedule(schedule); err != nil {
		resp.Error = function.NewArgumentFuncError(1, err.Error())
		return
	}
	keys, err := retention.Periods(now, schedule, int(min(count, 1<<31)))
	if err != nil {
		resp.Error = function.NewArgumentFuncError(2, err.Error())
		return
	}
	resp.Error = resp.Result.Set(ctx, keys)
}
