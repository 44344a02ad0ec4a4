package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/function"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/retention"
)

var _ function.Function = &retainFunction{}

// NewRetainFunction is provider::cephbackup::retain.
func NewRetainFunction() function.Function { return &retainFunction{} }

type retainFunction struct{}

func (f *retainFunction) Metadata(_ context.Context, _ function.MetadataRequest, resp *function.MetadataResponse) {
	resp.Name = "retain"
}

func (f *retainFunction) Definition(_ context.Context, _ function.DefinitionRequest, resp *function.DefinitionResponse) {
	resp.Definition = function.Definition{
		Summary: "The items a Benji-style retention rule keeps, newest first",
		MarkdownDescription: "Applies a retention rule such as `\"latest3,days7,weeks4,months12\"` (as `benji enforce` " +
			"takes it) to a list of RFC 3339 timestamps or period keys and returns those to keep, newest first, each " +
			"once. An item is kept when it is one of the `latestN` newest, or the oldest item of its hour, day, ISO " +
			"week, month or year among the last N of them (`hoursN`, `daysN`, `weeksN`, `monthsN`, `yearsN`; the " +
			"current one counts), in `now`'s UTC offset. Keeping the oldest of each period keeps the choice stable: " +
			"a newer item never displaces one already kept. A period key stands for the start of its period." + openTofuNote,
		Parameters: []function.Parameter{
			nowParameter,
			function.StringParameter{Name: "rule", MarkdownDescription: "Comma-separated terms, each at most once: " +
				"`latestN`, `hoursN`, `daysN`, `weeksN`, `monthsN`, `yearsN`."},
			function.ListParameter{Name: "items", ElementType: types.StringType, MarkdownDescription: "RFC 3339 " +
				"timestamps (`2026-11-28T06:00:00Z`) or period keys (`2026-11-28`, `2026-w48`, `2026-11`), none after `now`."},
		},
		Return: function.ListReturn{ElementType: types.StringType},
	}
}

func (f *retainFunction) Run(ctx context.Context, req function.RunRequest, resp *function.RunResponse) {
	var nowArg, ruleArg string
	var itemArgs []types.String
	if resp.Error = req.Arguments.Get(ctx, &nowArg, &ruleArg, &itemArgs); resp.Error != nil {
		return
	}
	now, ferr := parseNow(nowArg)
	if ferr != nil {
		resp.Error = ferr
		return
	}
	rule, err := retention.ParseRule(ruleArg)
	if err != nil {
		resp.Error = function.NewArgumentFuncError(1, err.Error())
		return
	}
	items := make([]string, len(itemArgs))
	for i, v := range itemArgs {
		if v.IsNull() {
			resp.Error = function.NewArgumentFuncError(2, fmt.Sprintf("items[%d] is null: every item must be a timestamp or a period key", i))
			return
		}
		items[i] = v.ValueString()
	}
	kept, err := retention.Apply(now, rule, items)
	if err != nil {
		resp.Error = function.NewArgumentFuncError(2, err.Error())
		return
	}
	resp.Error = resp.Result.Set(ctx, kept)
}
