package provider

import (
	"github.com/hashicorp/terraform-plugin-framework/resource"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
)

// NewFullResource is cephbackup_full.
func NewFullResource() resource.Resource { return &backupResource{kind: chain.Full} }
