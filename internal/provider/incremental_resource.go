package provider

import (
	"github.com/hashicorp/terraform-plugin-framework/resource"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
)

// NewIncrementalResource is cephbackup_incremental.
func NewIncrementalResource() resource.Resource { return &backupResource{kind: chain.Incremental} }
