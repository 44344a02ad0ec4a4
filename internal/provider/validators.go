package provider

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/cephconn"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
)

type (
	validatorString = validator.String
	validatorInt64  = validator.Int64
)

// diagAdder is the part of diag.Diagnostics that config checks need.
type diagAdder interface {
	AddAttributeError(path.Path, string, string)
	AddAttributeWarning(path.Path, string, string)
}

var _ diagAdder = &diag.Diagnostics{}

// nameValidator checks pool and image names at plan time.
type nameValidator struct{}

func (nameValidator) Description(context.Context) string {
	return "a bare Ceph pool or image name: not empty, without '/' or '@'"
}
func (v nameValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (nameValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := chain.ValidateName(req.Path.String(), req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid name", err.Error())
	}
}

// backupIDValidator checks backup ids at plan time.
type backupIDValidator struct{}

func (backupIDValidator) Description(context.Context) string {
	return "a backup id (a lower-case UUID)"
}
func (v backupIDValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}

func (backupIDValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := chain.ValidateID(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid backup id", err.Error())
	}
}

// durationValidator checks timeouts at plan time.
type durationValidator struct{}

func (durationValidator) Description(context.Context) string {
	return "a duration of at least one second, such as \"30s\" or \"2m\""
}
func (v durationValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}

func (durationValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if _, err := cephconn.ParseTimeout(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid timeout", err.Error())
	}
}

// rfc3339Validator checks time filters at plan time.
type rfc3339Validator struct{}

func (rfc3339Validator) Description(context.Context) string {
	return "a time in RFC 3339, such as \"2026-11-01T00:00:00Z\""
}
func (v rfc3339Validator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (rfc3339Validator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if _, err := time.Parse(time.RFC3339, req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid time",
			fmt.Sprintf("%q is not a time in RFC 3339 (%v). Write it as 2026-11-01T00:00:00Z, or use timestamp() / timeadd().", req.ConfigValue.ValueString(), err))
	}
}

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
