package provider

import (
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/diag"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
)

// engineFrom type-asserts what the provider's Configure handed over. nil
// data happens during validation, before Configure has run.
func engineFrom(data any, diags *diag.Diagnostics) *engine.Engine {
	if data == nil {
		return nil
	}
	e, ok := data.(*engine.Engine)
	if !ok {
		diags.AddError("Unexpected provider data",
			fmt.Sprintf("Expected *engine.Engine, got %T. This is a bug in the provider; please report it.", data))
		return nil
	}
	return e
}
