package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
)

// diagAdder is the part of diag.Diagnostics that config checks need.
type diagAdder interface {
	AddAttributeError(path.Path, string, string)
	AddAttributeWarning(path.Path, string, string)
}

var _ diagAdder = &diag.Diagnostics{}

// labelsValidator checks a backup's labels at plan time.
type labelsValidator struct{}

func (labelsValidator) Description(context.Context) string {
	return "labels a backup record can hold"
}
func (v labelsValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (labelsValidator) ValidateMap(ctx context.Context, req validator.MapRequest, resp *validator.MapResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	labels := map[string]string{}
	for k, v := range req.ConfigValue.Elements() {
		s, ok := v.(types.String)
		if !ok || s.IsUnknown() {
			return // known at apply; checked by the record's writer then
		}
		labels[k] = s.ValueString()
	}
	if err := chain.ValidateLabels(labels); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid labels", err.Error()+".")
	}
}
