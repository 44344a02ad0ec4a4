package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/function"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/retention"
)

var _ function.Function = &periodDaysFunction{}

// NewPeriodDaysFunction is provider::cephbackup::period_days.
func NewPeriodDaysFunction() function.Function { return &periodDaysFunction{} }

type periodDaysFunction struct{}

func (f *periodDaysFunction) Metadata(_ context.Context, _ function.MetadataRequest, resp *function.MetadataResponse) {
	resp.Name = "period_days"
}

func (f *periodDaysFunction) Definition(_ context.Context, _ function.DefinitionRequest, resp *function.DefinitionResponse) {
	resp.Definition = function.Definition{
		Summary: "The days of the current period up to now, oldest first",
		MarkdownDescription: "Returns the day keys (`2026-11-23`) of the period of `schedule` that `now` is in, from its " +
			"first day up to and including `now`'s day, oldest first: for `\"weekly\"` on a Wednesday, Monday to " +
			"Wednesday. A weekly chain takes its full backup on the first day and one incremental per later day." + openTofuNote,
		Parameters: []function.Parameter{
			nowParameter,
			function.StringParameter{Name: "schedule", MarkdownDescription: "`\"daily\"`, `\"weekly\"` (ISO weeks, Monday to Sunday) or `\"monthly\"`."},
		},
		Return: function.ListReturn{ElementType: types.StringType},
	}
}

func (f *periodDaysFunction) Run(ctx context.Context, req function.RunRequest, resp *function.RunResponse) {
	var nowArg, schedule string
	if resp.Error = req.Arguments.Get(ctx, &nowArg, &schedule); resp.Error != nil {
		return
	}
	now, ferr := parseNow(nowArg)
	if ferr != nil {
		resp.Error = ferr
		return
	}
	days, err := retention.DaysSoFar(now, schedule)
	if err != nil {
		resp.Error = function.NewArgumentFuncError(1, err.Error())
		return
	}
	resp.Error = resp.Result.Set(ctx, days)
}
