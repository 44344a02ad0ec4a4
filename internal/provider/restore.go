package provider

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/cephconn"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
)

// What the cephbackup_restore resource and the cephbackup_restore action
// share: their arguments, the plan-time check and the diagnostics of a
// failed restore. Both hand the same engine.RestoreRequest to engine.Restore.

// restoreArgs are the arguments of a restore, embedded in the resource's and
// the action's models.
type restoreArgs struct {
	BackupID        types.String `tfsdk:"backup_id"`
	Pool            types.String `tfsdk:"pool"`
	Namespace       types.String `tfsdk:"namespace"`
	Image           types.String `tfsdk:"image"`
	BackupPool      types.String `tfsdk:"backup_pool"`
	BackupNamespace types.String `tfsdk:"backup_namespace"`
	TargetPool      types.String `tfsdk:"target_pool"`
	TargetNamespace types.String `tfsdk:"target_namespace"`
	TargetImage     types.String `tfsdk:"target_image"`
	Force           types.Bool   `tfsdk:"force"`
	Verify          types.Bool   `tfsdk:"verify"`
}

// restoreArgDocs describe the shared arguments, for both schemas.
var restoreArgDocs = map[string]string{
	"backup_id":        "Id of the restore point, e.g. from `data.cephbackup_restore_points`.",
	"pool":             "Pool of the backed-up image on the source (as recorded with the backup).",
	"image":            "Name of the backed-up image; its backups are in `<image>.backup.base`.",
	"backup_pool":      "Pool on the backup cluster that holds the backups.",
	"backup_namespace": backupNamespaceDocs,
	"target_pool":      "Pool on `cluster` to restore into.",
	"namespace":        "RADOS namespace of `pool` the backed-up image was in (as recorded with the backup); default: the pool's default namespace.",
	"target_namespace": "RADOS namespace of `target_pool` to restore into; default: the pool's default namespace (not `namespace`: " +
		"`target_pool` is named explicitly, and so is its namespace).",
	"target_image": "Image to restore into: created with the restore point's size when missing, overwritten only with `force`.",
	"force": "Allow overwriting an existing target image. The result then has the restore point's size and content exactly. " +
		"When the target still has the snapshot of a backup on the same backup image (restoring into the original volume), only the differing extents are sent.",
	"verify": "After the restore, read the target back and compare its sha256 with the restore point's: the checksum recorded when the backup was verified, else the restore point read in parallel. A mismatch fails the apply.",
}

// restoreNameArgs are the shared arguments that are pool or image names.
var restoreNameArgs = []string{"pool", "image", "backup_pool", "target_pool", "target_image"}

func (a restoreArgs) request() engine.RestoreRequest {
	return engine.RestoreRequest{
		BackupID: a.BackupID.ValueString(), Pool: poolPath(a.Pool, a.Namespace), Image: a.Image.ValueString(),
		BackupPool: cephconn.PoolPath(a.BackupPool.ValueString(), backupNamespace(a.Namespace, a.BackupNamespace)), TargetPool: a.targetPool(),
		TargetImage: a.TargetImage.ValueString(), Force: a.Force.ValueBool(), Verify: a.Verify.ValueBool(),
	}
}

// known reports whether every argument the plan-time check reads is known.
func (a restoreArgs) known() bool {
	for _, v := range []types.String{a.BackupID, a.Pool, a.Namespace, a.Image, a.BackupPool, a.BackupNamespace, a.TargetPool, a.TargetNamespace, a.TargetImage} {
		if v.IsUnknown() {
			return false
		}
	}
	return !a.Force.IsUnknown()
}

// targetPool is the pool path restored into.
func (a restoreArgs) targetPool() string { return poolPath(a.TargetPool, a.TargetNamespace) }

// target is the target image as Ceph operators name it.
func (a restoreArgs) target() string {
	return a.targetPool() + "/" + a.TargetImage.ValueString()
}

// checkRestore checks a restore against both clusters at plan time, so that
// a wrong id or an existing target fails the plan, not the apply. Arguments
// known only at apply are checked then, by the restore itself.
func checkRestore(ctx context.Context, eng *engine.Engine, args restoreArgs, diags *diag.Diagnostics) {
	if eng == nil || !args.known() {
		return
	}
	warnings, err := eng.CheckRestore(ctx, args.request())
	for _, w := range warnings {
		diags.AddAttributeWarning(path.Root("target_image"), "Interrupted restore found", w)
	}
	var field *engine.FieldError
	switch {
	case errors.As(err, &field):
		diags.AddAttributeError(attributeOf(field), "Cannot restore", field.Error()+".")
	case err != nil:
		diags.AddError("Cannot plan the restore", err.Error())
	}
}

// restoreFailed reports a restore that engine.Restore refused or that failed
// part way.
func restoreFailed(args restoreArgs, err error, diags *diag.Diagnostics) {
	diags.AddError(fmt.Sprintf("Restore into %s failed", args.target()),
		err.Error()+"\n\nThe restore point on the backup cluster is untouched.")
}
