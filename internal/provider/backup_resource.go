package provider

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/cephconn"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
)

// unknownOf is the unknown value of a computed attribute of the backups.
func unknownOf(name string) attr.Value {
	switch name {
	case "size", "transferred_bytes":
		return types.Int64Unknown()
	default:
		return types.StringUnknown()
	}
}

// deletingKey, in a backup's private state, says Read found its deletion
// interrupted.
const deletingKey = "deleting"

// backupResource implements cephbackup_full and cephbackup_incremental, which
// differ only in parent_id.
type backupResource struct {
	kind   chain.Kind
	engine *engine.Engine
}

var (
	_ resource.ResourceWithImportState = &backupResource{}
	_ resource.ResourceWithModifyPlan  = &backupResource{}
	_ resource.ResourceWithConfigure   = &backupResource{}
)

// backupAttrs are the attributes both backup resources have.
type backupAttrs struct {
	ID                 types.String   `tfsdk:"id"`
	Pool               types.String   `tfsdk:"pool"`
	Namespace          types.String   `tfsdk:"namespace"`
	Image              types.String   `tfsdk:"image"`
	BackupPool         types.String   `tfsdk:"backup_pool"`
	BackupNamespace    types.String   `tfsdk:"backup_namespace"`
	Snapshot           types.String   `tfsdk:"snapshot"`
	BackupImage        types.String   `tfsdk:"backup_image"`
	Size               types.Int64    `tfsdk:"size"`
	TransferredBytes   types.Int64    `tfsdk:"transferred_bytes"`
	CreatedAt          types.String   `tfsdk:"created_at"`
	Verify             types.Bool     `tfsdk:"verify"`
	SHA256             types.String   `tfsdk:"sha256"`
	DeletionProtection types.Bool     `tfsdk:"deletion_protection"`
	Labels             types.Map      `tfsdk:"labels"`
	BackupClusterFSID  types.String   `tfsdk:"backup_cluster_fsid"`
	Timeouts           timeouts.Value `tfsdk:"timeouts"`
}

// backupModel is a full or an incremental backup as the resource's methods
// work on it: also cephbackup_incremental's state (AdoptBackupImage is not
// in its schema), while a full backup is stored as a fullModel (no
// parent_id). readBackupModel and writeBackupModel do the mapping.
type backupModel struct {
	backupAttrs
	ParentID         types.String `tfsdk:"parent_id"`
	AdoptBackupImage types.Bool   `tfsdk:"-"`
}

// fullModel is cephbackup_full's state: the shared attributes and
// adopt_backup_image, which only a full backup has.
type fullModel struct {
	backupAttrs
	AdoptBackupImage types.Bool `tfsdk:"adopt_backup_image"`
}

func (r *backupResource) typeName() string { return "cephbackup_" + string(r.kind) }

func (r *backupResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_" + string(r.kind)
}

func (r *backupResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.engine = engineFrom(req.ProviderData, &resp.Diagnostics)
}

func (r *backupResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	attrs := map[string]schema.Attribute{
		"id":                  computedString("The backup id, a UUID. Also part of the snapshot name."),
		"pool":                requiredName("Pool of the source image on `cluster`."),
		"namespace":           namespaceAttr("RADOS namespace of `pool` that holds the source image; default: the pool's default namespace."),
		"backup_namespace":    backupNamespaceAttr(),
		"image":               requiredName("The source RBD image."),
		"backup_pool":         requiredName("Pool on `backup_cluster` (or `cluster`) that holds the backup image `<image>.backup.base`."),
		"snapshot":            computedString("Name of the backup's snapshot, `backup.<id>.snap.<unix seconds>`: on the source image and, as the restore point, on the backup image."),
		"backup_image":        computedString("The backup image, `<image>.backup.base` in `backup_pool`."),
		"size":                computedInt64("Size in bytes of the source image at the snapshot, and of the restore point."),
		"transferred_bytes":   computedInt64("Bytes of data written to the backup image by this backup (zeroed ranges not counted)."),
		"created_at":          computedString("When the backup's snapshot was taken (RFC 3339)."),
		"backup_cluster_fsid": clusterFSIDAttr("backup_cluster"),
		"verify": optionalBool("After the transfer, read the copy back and compare its sha256 with the source snapshot's (both read in parallel) before the restore point is taken: a mismatch fails the apply and no restore point is made. " +
			"The checksum is recorded on the backup cluster, so restores can later prove integrity without the source. " +
			"Set to `true` on an existing backup, it verifies that backup in place (no new backup is taken): the restore point is read and compared with its source snapshot " +
			"when that still exists (only the newest backup of an image keeps it), and with any checksum recorded before; a mismatch fails the apply. " +
			"Its checksum is then recorded on the backup cluster and in `sha256`. When the source snapshot is gone, the restore point's own checksum is recorded and a warning says it could not be compared with the source. " +
			"Setting it back to `false` changes nothing on the clusters."),
		"sha256": computedString("sha256 of the restore point's content (as `rbd export ... - | sha256sum` prints it), when it was verified; null otherwise."),
		"deletion_protection": optionalBool("Refuse to delete this backup. A plan that would destroy or replace it (removing it from the configuration, `terraform destroy`, a changed `pool`, `image` or `backup_pool`) fails at plan time, naming it, before anything is deleted. " +
			"The protection is recorded on the backup cluster, so deleting it from another workspace or with another client of this provider is refused too, " +
			"and so is deleting the backups it continues: a plan that would delete a backup that a protected backup descends from fails as well. " +
			"While it is true, the restore point's snapshot is also protected by Ceph (`rbd snap protect`), so `rbd snap rm` of it fails for every client until it is unprotected; " +
			"setting it to `false` unprotects it. A restore point protected by hand while this is `false` is reported at refresh, never unprotected by the provider, and its deletion is refused. " +
			"Changes in place; may be any expression (for example, to protect the newest weeks of a retention scheme). " +
			"To delete a protected backup, set it to `false` and apply, then remove the backup."),
		"labels": schema.MapAttribute{Optional: true, ElementType: types.StringType, Validators: []validator.Map{labelsValidator{}},
			MarkdownDescription: "Key/value pairs recorded with the backup on the backup cluster, so other workspaces and the `cephbackup_restore_points` " +
				"data source (its `labels` filter) see them. Keys are 1 to 128 letters, digits, `.`, `_`, `-` or `/`; values at most 512 bytes; at most 64 labels. " +
				"Change in place: only the record is rewritten, never the restore point. A change made outside Terraform shows as drift."},
	}
	desc := "A full backup of an RBD image: the whole image, as of a new snapshot, copied into the backup image and " +
		"kept there as a snapshot (the restore point). A changed `pool`, `image` or `backup_pool` forces a new backup; " +
		"`verify`, `deletion_protection`, `labels`, `adopt_backup_image` and `timeouts` change in place."
	if r.kind == chain.Full {
		attrs["adopt_backup_image"] = optionalBool("After a disaster, take over the backup image `<image>.backup.base` in `backup_pool` when it holds the backups of " +
			"another source image: this volume's lost original (same image name, on the lost cluster or in another pool), restored onto `cluster`. " +
			"Without it, such a backup is refused at plan time (a backup image holds the backups of one source image). " +
			"The adoption is made when this backup is created, under the backup image's lock, and only when the backup image's newest restore point is safe to continue from: " +
			"every record on it is a complete restore point, so no backup or deletion of the old source stopped half-way (the refusal says how to finish them). " +
			"The restore points already there are kept, with their records, which name the old source; they stay restorable (with the old `pool` and `image`). " +
			"The adoption is recorded on the backup cluster (image metadata `cephbackup.adoption.<time>`), and backups of the old source into that image are refused from then on. " +
			"Refused when the old source image still exists on `cluster`. The plan warns what it will adopt. " +
			"This backup copies the whole volume into the backup image; incrementals continue from it. " +
			"On an existing backup it changes in place and does nothing.")
	}
	if r.kind == chain.Incremental {
		attrs["parent_id"] = schema.StringAttribute{Required: true,
			MarkdownDescription: "Id of the backup this one continues: a `cephbackup_full` or another `cephbackup_incremental` of the same image. " +
				"Reference the parent's `id` attribute so that Terraform creates parents first and destroys children first. " +
				"A changed `parent_id` on an existing backup (typically: its parent was deleted out of band and is taken again under a new id) " +
				"is bookkeeping and changes in place: the backup keeps its id, snapshot and restore point, which is complete on its own, " +
				"and the new parent is recorded on the backup cluster (it must be a restore point of the same image that does not descend from this backup). " +
				"A warning says so when applied.",
			Validators: []validator.String{backupIDValidator}}
		desc = "An incremental backup of an RBD image: only the extents changed since the parent backup's snapshot are sent, " +
			"and the result is a restore point as complete as a full one. A changed `pool`, `image` or `backup_pool` forces a new backup; " +
			"`parent_id`, `verify`, `deletion_protection`, `labels` and `timeouts` change in place."
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: desc,
		Attributes:          attrs,
		Blocks:              map[string]schema.Block{"timeouts": backupTimeouts.block(ctx)},
	}
}

func (r *backupResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	switch {
	case req.Plan.Raw.IsNull() && req.State.Raw.IsNull():
	case req.Plan.Raw.IsNull():
		var state backupModel
		resp.Diagnostics.Append(readBackupModel(ctx, req.State.Get, r.kind, &state)...)
		if !resp.Diagnostics.HasError() {
			r.planDeletion(ctx, state, "destroy", &resp.Diagnostics)
		}
	case req.State.Raw.IsNull():
		r.planCreate(ctx, req, resp)
	default:
		r.planUpdate(ctx, req, resp)
	}
}

// planDeletion fails a plan that would delete a backup when the deletion is
// known to be refused at apply: the backup is protected (in state or on the
// backup cluster), or a protected backup descends from it. A backup whose
// unprotected children are recorded on the backup cluster is not refused
// here: ModifyPlan sees one resource at a time, and the same plan may delete
// those children first, as it does for a chain that is dropped whole.
// Delete refuses at apply, with nothing deleted, when it does not.
func (r *backupResource) planDeletion(ctx context.Context, state backupModel, how string, diags *diag.Diagnostics) {
	what := fmt.Sprintf("%s %s (of %s/%s, restore point %s in %s)", r.typeName(), state.ID.ValueString(),
		state.sourcePool(), state.Image.ValueString(), state.Snapshot.ValueString(), state.backupPool())
	const summary = "Backup is protected against deletion"
	if state.DeletionProtection.ValueBool() {
		diags.AddError(summary, fmt.Sprintf("This plan would %s backup %s, which has deletion_protection = true. Nothing was deleted. "+
			"To delete it, set deletion_protection = false and apply that first.", how, what))
		return
	}
	if r.engine == nil {
		return
	}
	refusal, err := r.engine.CheckPlannedDeletion(ctx, state.backupPool(), state.Image.ValueString(), state.ID.ValueString())
	switch {
	case err != nil:
		diags.AddWarning("Deletion not checked against the backup cluster",
			fmt.Sprintf("Reading the records of backup %s failed: %v. The deletion is checked again when applied and refused, with nothing deleted, "+
				"if the backup or a backup continuing it is protected.", what, err))
	case errors.Is(refusal, engine.ErrHasClones):
		diags.AddError("Backup has clones", fmt.Sprintf("This plan would %s backup %s, and the backup cluster refuses that: %v. Nothing was deleted.", how, what, refusal))
	case refusal != nil:
		diags.AddError(summary, fmt.Sprintf("This plan would %s backup %s, and the backup cluster refuses that: %v. Nothing was deleted.", how, what, refusal))
	}
}

// planCreate checks a new backup's names against the clusters at plan time,
// so a typo fails the plan instead of the apply.
func (r *backupResource) planCreate(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if r.engine == nil {
		return
	}
	var plan backupModel
	resp.Diagnostics.Append(readBackupModel(ctx, req.Plan.Get, r.kind, &plan)...)
	if resp.Diagnostics.HasError() || plan.Image.IsUnknown() || plan.BackupPool.IsUnknown() || plan.Pool.IsUnknown() ||
		plan.Namespace.IsUnknown() || plan.BackupNamespace.IsUnknown() {
		return
	}
	adoption, err := r.engine.CheckBackupInputs(ctx, plan.sourcePool(), plan.Image.ValueString(), plan.backupPool(),
		r.kind == chain.Full && plan.AdoptBackupImage.ValueBool())
	var missing *engine.FieldError
	var other *engine.OtherSourceError
	switch {
	case errors.As(err, &missing) && missing.Field == engine.AttrImage && engine.IsNotFound(missing.Err) && r.sourceGone(ctx, plan, &resp.Diagnostics):
		return
	case errors.As(err, &missing) && engine.IsNotFound(missing.Err):
		resp.Diagnostics.AddAttributeError(attributeOf(missing), "Not found on the cluster",
			missing.Error()+". Check the name and which cluster it is on (pool and image: cluster; backup_pool: backup_cluster).")
		return
	case errors.As(err, &missing) && missing.Field == "adopt_backup_image":
		resp.Diagnostics.AddAttributeError(attributeOf(missing), "Cannot adopt the backup image", missing.Error()+".")
		return
	case errors.As(err, &other):
		resp.Diagnostics.AddAttributeError(path.Root("backup_pool"), "Backup image holds another source image's backups", other.Error()+".")
		return
	case errors.As(err, &missing):
		resp.Diagnostics.AddAttributeError(attributeOf(missing), "Cannot back up into this pool", missing.Error()+".")
		return
	case err != nil:
		resp.Diagnostics.AddError("Cannot plan the backup", err.Error())
		return
	}
	if adoption != nil {
		resp.Diagnostics.AddAttributeWarning(path.Root("adopt_backup_image"), "Backup image will be adopted",
			adoption.Describe(plan.backupPool()+"/"+chain.BackupImageName(plan.Image.ValueString())))
	}
	leftovers, err := r.engine.Leftovers(ctx, plan.sourcePool(), plan.Image.ValueString(), plan.backupPool())
	if err != nil {
		resp.Diagnostics.AddWarning("Cannot look for leftovers of interrupted runs", err.Error())
	}
	for _, l := range leftovers {
		resp.Diagnostics.AddWarning("Left by an interrupted run", l)
	}
	if r.kind != chain.Incremental || plan.ParentID.IsUnknown() {
		return
	}
	parent, err := r.engine.GetBackup(ctx, plan.backupPool(), plan.Image.ValueString(), plan.ParentID.ValueString())
	switch {
	case errors.Is(err, engine.ErrGone):
		resp.Diagnostics.AddAttributeError(path.Root("parent_id"), "Parent backup not found",
			fmt.Sprintf("No restore point with id %s of image %s is recorded in pool %s of the backup cluster (it never existed, belongs to another image, or was deleted). "+
				"Point parent_id at an existing backup of the same image, or take a new full backup.",
				plan.ParentID.ValueString(), plan.Image.ValueString(), plan.backupPool()))
	case err != nil:
		resp.Diagnostics.AddError("Cannot check the parent backup", err.Error())
	case parent.Pool != plan.sourcePool():
		resp.Diagnostics.AddAttributeError(path.Root("parent_id"), "Parent backup is of another image",
			fmt.Sprintf("Backup %s was taken of %s/%s, not of %s/%s.", parent.ID, parent.Pool, parent.Image, plan.sourcePool(), plan.Image.ValueString()))
	case r.parentOnAnotherCluster(ctx, parent, &resp.Diagnostics):
	default:
		base, err := r.engine.IncrementalBase(ctx, plan.sourcePool(), plan.Image.ValueString(), plan.backupPool())
		switch {
		case err != nil:
			resp.Diagnostics.AddWarning("Cannot tell what the incremental will send", err.Error())
		case base == "":
			resp.Diagnostics.AddAttributeWarning(path.Root("parent_id"), "Incremental will copy the whole image",
				fmt.Sprintf("No backup snapshot of %s/%s whose content the backup image still holds is left on the source "+
					"(the newest backup's restore point or source snapshot was removed outside Terraform), so there is nothing to diff from. "+
					"This incremental copies the whole image into the existing backup image: exact, but as slow as a full backup. "+
					"Its parent stays %s for the deletion order.", plan.sourcePool(), plan.Image.ValueString(), parent.ID))
		}
	}
}

// sourceGone reports, with a warning, a new backup of a source image that
// no longer exists but has restore points: a volume deleted out of band.
// The plan goes on, so that the other volumes' backups are taken; this one
// fails alone at apply. An image that never had a backup (a typo, most
// likely) is left to the plan error.
func (r *backupResource) sourceGone(ctx context.Context, plan backupModel, diags *diag.Diagnostics) bool {
	points, err := r.engine.RestorePoints(ctx, plan.sourcePool(), plan.Image.ValueString(), plan.backupPool())
	if err != nil || len(points) == 0 {
		return false
	}
	source := plan.sourcePool() + "/" + plan.Image.ValueString()
	diags.AddAttributeWarning(path.Root("image"), "Source volume is gone",
		fmt.Sprintf("The image %s does not exist on the provider's cluster any more, but it has %d restore points in %s on the backup cluster: "+
			"they stay readable and restorable. This %s will fail at apply, alone: the other backups of this plan are taken. "+
			"To stop backing the volume up and keep its restore points, replace its backup resources with `removed` blocks with "+
			"`lifecycle { destroy = false }` (Terraform >= 1.7), or `terraform state rm` them; deleting them from the configuration "+
			"destroys them, and their restore points with them.", source, len(points), plan.backupPool(), r.typeName()))
	return true
}

// parentOnAnotherCluster reports, with an error diagnostic, a parent taken on
// another cluster than the provider's `cluster`: after a disaster, the
// chains of the lost cluster cannot be continued on the replacement.
func (r *backupResource) parentOnAnotherCluster(ctx context.Context, parent chain.Record, diags *diag.Diagnostics) bool {
	fsid, err := r.engine.SourceCluster.FSID(ctx)
	if err != nil || fsid == parent.SourceFSID {
		return false // an unreachable cluster is reported by the apply
	}
	diags.AddAttributeError(path.Root("parent_id"), "Parent backup is of another cluster",
		fmt.Sprintf("Backup %s was taken of %s/%s on the cluster with fsid %s, and the provider's cluster is %s: an incremental continues a chain "+
			"of the same volume on the same cluster, whose snapshot it diffs from. After a disaster, start a new chain on the replacement cluster "+
			"with a cephbackup_full (with adopt_backup_image = true, into the same backup_pool); the old chains stay restorable.",
			parent.ID, parent.Pool, parent.Image, parent.SourceFSID, fsid))
	return true
}

// planUpdate plans a change to an existing backup: a replacement when
// pool, image or backup_pool change (refused for a protected backup),
// otherwise an update in place whose parent_id, when known, is checked now.
func (r *backupResource) planUpdate(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	var plan, state backupModel
	resp.Diagnostics.Append(readBackupModel(ctx, req.Plan.Get, r.kind, &plan)...)
	resp.Diagnostics.Append(readBackupModel(ctx, req.State.Get, r.kind, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if plan.sourcePool() != state.sourcePool() || !plan.Image.Equal(state.Image) || plan.backupPool() != state.backupPool() {
		r.planDeletion(ctx, state, "replace", &resp.Diagnostics)
		return
	}
	if deleting, diags := req.Private.GetKey(ctx, deletingKey); string(deleting) == "true" {
		resp.Diagnostics.Append(diags...)
		resp.RequiresReplace = append(resp.RequiresReplace, path.Root("id"))
		for _, attr := range []string{"id", "snapshot", "size", "transferred_bytes", "created_at", "sha256"} {
			resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root(attr), unknownOf(attr))...)
		}
		return
	}
	if plan.Verify.ValueBool() && !state.Verify.ValueBool() {
		// Verified in place by Update, which records the checksum.
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("sha256"), types.StringUnknown())...)
	}
	if r.kind != chain.Incremental || plan.ParentID.IsUnknown() || plan.ParentID.Equal(state.ParentID) || r.engine == nil {
		return
	}
	refusal, err := r.engine.CheckReparent(ctx, state.backupPool(), state.Image.ValueString(),
		state.ID.ValueString(), plan.ParentID.ValueString())
	switch {
	case err != nil:
		resp.Diagnostics.AddError("Cannot check the new parent backup", err.Error())
	case refusal != nil:
		resp.Diagnostics.AddAttributeError(path.Root("parent_id"), "Cannot record this parent", refusal.Error()+
			". Point parent_id at an existing backup of the same image that does not continue this one.")
	}
}

func (r *backupResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan backupModel
	resp.Diagnostics.Append(readBackupModel(ctx, req.Plan.Get, r.kind, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel, ok := withTimeout(ctx, plan.Timeouts.Create, defaultCreateTimeout, &resp.Diagnostics)
	if !ok {
		return
	}
	defer cancel()

	var labels map[string]string
	resp.Diagnostics.Append(plan.Labels.ElementsAs(ctx, &labels, false)...)
	if resp.Diagnostics.HasError() {
		return
	}
	breq := engine.BackupRequest{
		Pool: plan.sourcePool(), Image: plan.Image.ValueString(),
		BackupPool: plan.backupPool(), ParentID: plan.ParentID.ValueString(),
		Verify: plan.Verify.ValueBool(), DeletionProtection: plan.DeletionProtection.ValueBool(),
		AdoptBackupImage: r.kind == chain.Full && plan.AdoptBackupImage.ValueBool(), Labels: labels,
	}
	fsid, err := r.engine.BackupCluster.FSID(ctx)
	if err != nil {
		resp.Diagnostics.AddError(fmt.Sprintf("Backup of %s/%s failed", breq.Pool, breq.Image), err.Error()+"\n\nNothing was changed.")
		return
	}
	plan.BackupClusterFSID = types.StringValue(fsid)
	rec, err := r.engine.Backup(ctx, breq, func(started chain.Record) {
		// Saved with the error below if the transfer fails: Terraform then
		// keeps the backup as tainted and deletes it cleanly on the next apply.
		plan.fromRecord(started, breq.BackupPool)
		resp.Diagnostics.Append(writeBackupModel(ctx, resp.State.Set, r.kind, &plan)...)
		setIdentity(ctx, resp.Identity, &plan, &resp.Diagnostics)
	})
	if err != nil {
		resp.Diagnostics.AddError(fmt.Sprintf("Backup of %s/%s failed", breq.Pool, breq.Image), err.Error()+
			"\n\nNo restore point was created by this attempt, and existing restore points are untouched.")
		return
	}
	plan.fromRecord(rec, breq.BackupPool)
	resp.Diagnostics.Append(writeBackupModel(ctx, resp.State.Set, r.kind, &plan)...)
	setIdentity(ctx, resp.Identity, &plan, &resp.Diagnostics)
}

func (r *backupResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state backupModel
	resp.Diagnostics.Append(readBackupModel(ctx, req.State.Get, r.kind, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel, ok := withTimeout(ctx, state.Timeouts.Read, backupTimeouts.read, &resp.Diagnostics)
	if !ok {
		return
	}
	defer cancel()
	// Also for states written before the provider had identities.
	setIdentity(ctx, resp.Identity, &state, &resp.Diagnostics)
	fsid, ok := r.checkBackupCluster(ctx, state, &resp.Diagnostics)
	if !ok {
		return
	}
	rec, err := r.engine.ReadBackup(ctx, state.backupPool(), state.Image.ValueString(), state.ID.ValueString())
	if errors.Is(err, engine.ErrDeleting) {
		// Kept in state so that the destroy that started it finishes it; a
		// plan that keeps the backup replaces it (planUpdate).
		resp.Diagnostics.AddWarning("Deletion interrupted",
			fmt.Sprintf("The deletion of backup %s was interrupted (the backup cluster records it as being deleted): its restore point "+
				"may be gone already. Applying finishes the deletion, and takes the backup again if the configuration still has it.",
				state.ID.ValueString()))
		resp.Diagnostics.Append(resp.Private.SetKey(ctx, deletingKey, []byte("true"))...)
		return
	}
	if errors.Is(err, engine.ErrGone) {
		// The restore point is gone: plan a new backup in its place.
		resp.State.RemoveResource(ctx)
		if errors.Is(err, engine.ErrForgotten) {
			snap := fmt.Sprintf("%s/%s@%s", state.sourcePool(), state.Image.ValueString(), state.Snapshot.ValueString())
			resp.Diagnostics.AddWarning("Backup deleted outside Terraform",
				fmt.Sprintf("Backup %s and its record are gone from pool %s of the backup cluster, so Terraform will plan it again. "+
					"Its source snapshot %s, if it still exists, is no longer known to be this provider's and is left alone: "+
					"remove it with `rbd snap rm %s` once nothing needs it.",
					state.ID.ValueString(), state.backupPool(), snap, snap))
		}
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Cannot read backup "+state.ID.ValueString(), err.Error())
		return
	}
	state.fromRecord(rec, state.backupPool())
	state.BackupClusterFSID = types.StringValue(fsid)
	reportPointProtection(rec, &state, &resp.Diagnostics)
	resp.Diagnostics.Append(writeBackupModel(ctx, resp.State.Set, r.kind, &state)...)
}

// reportPointProtection compares the recorded deletion_protection with
// Ceph's protection of the restore point. One recorded but not enforced (a
// backup taken by an older provider, or unprotected by hand) reads as
// false, so that applying deletion_protection = true protects the restore
// point again; one enforced by hand only is reported.
func reportPointProtection(rec chain.Record, m *backupModel, diags *diag.Diagnostics) {
	point := m.backupPool() + "/" + chain.BackupImageName(rec.Image) + "@" + rec.Snapshot
	switch {
	case rec.DeletionProtection && !rec.PointProtected:
		m.DeletionProtection = types.BoolValue(false)
		diags.AddWarning("Restore point not protected by Ceph",
			fmt.Sprintf("Backup %s has deletion_protection = true on the backup cluster, but its restore point %s is not protected with `rbd snap protect` "+
				"(it was taken by an older version of the provider, or unprotected by hand), so `rbd snap rm` would remove it. "+
				"The provider still refuses to delete it. Applying with deletion_protection = true protects it again.", rec.ID, point))
	case !rec.DeletionProtection && rec.PointProtected:
		diags.AddWarning("Restore point protected by hand",
			fmt.Sprintf("The restore point %s of backup %s is protected with `rbd snap protect`, although its deletion_protection is false: "+
				"somebody protected it by hand. The provider leaves that protection alone, and destroying this backup is refused, with nothing deleted, "+
				"until it is lifted with `rbd snap unprotect %s`.", point, rec.ID, point))
	}
}

// checkBackupCluster is checkCluster for the backup cluster of backup m.
func (r *backupResource) checkBackupCluster(ctx context.Context, m backupModel, diags *diag.Diagnostics) (fsid string, ok bool) {
	what := fmt.Sprintf("backup %s (restore point %s/%s@%s)", m.ID.ValueString(), m.backupPool(),
		chain.BackupImageName(m.Image.ValueString()), m.Snapshot.ValueString())
	return checkCluster(ctx, r.engine.BackupCluster, "backup_cluster", m.BackupClusterFSID, what, diags)
}

func (r *backupResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	// Nothing that changes in place touches a restore point: parent_id and
	// deletion_protection are bookkeeping in the backup's record, verify
	// reads the restore point, timeouts steer the provider.
	var plan, state backupModel
	resp.Diagnostics.Append(readBackupModel(ctx, req.Plan.Get, r.kind, &plan)...)
	resp.Diagnostics.Append(readBackupModel(ctx, req.State.Get, r.kind, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel, ok := withTimeout(ctx, plan.Timeouts.Update, defaultUpdateTimeout, &resp.Diagnostics)
	if !ok {
		return
	}
	defer cancel()
	backupPool, image, id := state.backupPool(), state.Image.ValueString(), state.ID.ValueString()
	if _, ok := r.checkBackupCluster(ctx, state, &resp.Diagnostics); !ok {
		return
	}
	save := func() {
		resp.Diagnostics.Append(writeBackupModel(ctx, resp.State.Set, r.kind, &state)...)
		setIdentity(ctx, resp.Identity, &state, &resp.Diagnostics)
	}

	var change engine.BackupChange
	oldParent, newParent := state.ParentID.ValueString(), plan.ParentID.ValueString()
	if r.kind == chain.Incremental && newParent != oldParent {
		change.ParentID = &newParent
	}
	if protect := plan.DeletionProtection.ValueBool(); protect != state.DeletionProtection.ValueBool() {
		change.DeletionProtection = &protect
	}
	if !plan.Labels.Equal(state.Labels) {
		labels := map[string]string{}
		resp.Diagnostics.Append(plan.Labels.ElementsAs(ctx, &labels, false)...)
		if resp.Diagnostics.HasError() {
			return
		}
		change.Labels = &labels
	}
	if change != (engine.BackupChange{}) {
		rec, err := r.engine.UpdateBackup(ctx, backupPool, image, id, change)
		if err != nil {
			save()
			resp.Diagnostics.AddError("Cannot update backup "+id, err.Error()+"\n\nIts restore point is untouched.")
			return
		}
		state.fromRecord(rec, backupPool)
		if change.ParentID != nil {
			resp.Diagnostics.AddWarning("Backup kept: only its recorded parent changed",
				fmt.Sprintf("Backup %s of %s/%s now records %s as its parent (it was %s) on the backup cluster. Its restore point %s is unchanged and complete on its own: "+
					"restoring it never needs its parent. The parent only orders deletions: %s cannot be deleted while this backup exists.",
					id, state.sourcePool(), image, newParent, oldParent, state.Snapshot.ValueString(), newParent))
		}
	}
	state.Timeouts, state.AdoptBackupImage, state.BackupNamespace = plan.Timeouts, plan.AdoptBackupImage, plan.BackupNamespace
	if plan.Verify.ValueBool() && !state.Verify.ValueBool() {
		save() // what is recorded so far, should the verification fail
		v, err := r.engine.VerifyBackup(ctx, backupPool, image, id)
		if err != nil {
			resp.Diagnostics.AddError("Verification of backup "+id+" failed", err.Error()+
				"\n\nNothing was recorded; verify stays false in state, so the next apply verifies again.")
			return
		}
		state.fromRecord(v.Record, backupPool)
		if !v.Compared {
			resp.Diagnostics.AddWarning("Restore point checksummed, not compared with its source",
				fmt.Sprintf("Backup %s could not be compared with its source: %s. The restore point %s was read and its sha256 %s is recorded on the backup cluster and in sha256, "+
					"so later restores and verifications can prove it unchanged; whether it equals the source at the time of the backup cannot be checked any more.",
					id, v.NotCompared, state.Snapshot.ValueString(), v.Record.SHA256))
		}
	}
	state.Verify = plan.Verify
	save()
}

func (r *backupResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state backupModel
	resp.Diagnostics.Append(readBackupModel(ctx, req.State.Get, r.kind, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel, ok := withTimeout(ctx, state.Timeouts.Delete, defaultDeleteTimeout, &resp.Diagnostics)
	if !ok {
		return
	}
	defer cancel()
	// On another cluster the backup image is not found, and the deletion
	// would "succeed" with the restore point left unmanaged.
	if _, ok := r.checkBackupCluster(ctx, state, &resp.Diagnostics); !ok {
		return
	}
	warnings, err := r.engine.Delete(ctx, engine.DeleteRequest{
		BackupPool: state.backupPool(), Pool: state.sourcePool(), Image: state.Image.ValueString(),
		ID: state.ID.ValueString(), Snapshot: state.Snapshot.ValueString(),
	})
	for _, w := range warnings {
		resp.Diagnostics.AddWarning("Backup deleted with a leftover", w)
	}
	if err != nil {
		resp.Diagnostics.AddError("Cannot delete backup "+state.ID.ValueString(), err.Error()+"\n\nNothing was deleted that other backups depend on.")
	}
}

func (r *backupResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	importID := req.ID
	if importID == "" && req.Identity != nil {
		// Imported by identity (an import block's identity, Terraform >= 1.12).
		var ident backupIdentity
		resp.Diagnostics.Append(req.Identity.Get(ctx, &ident)...)
		if resp.Diagnostics.HasError() {
			return
		}
		importID = chain.ImportID(ident.BackupPool.ValueString(), ident.ID.ValueString())
	}
	pool, id, err := chain.ParseImportID(importID)
	if err != nil {
		resp.Diagnostics.AddError("Invalid import id", err.Error()+". Example: terraform import "+r.typeName()+".name backups/0f8fad5b-d9cb-469f-a165-70867728950e")
		return
	}
	rec, err := r.engine.FindBackup(ctx, pool, id)
	if err != nil {
		resp.Diagnostics.AddError("Cannot import backup "+id, err.Error())
		return
	}
	if rec.Kind != r.kind {
		resp.Diagnostics.AddError("Wrong resource type for this backup",
			fmt.Sprintf("Backup %s is a %s backup: import it as cephbackup_%s.", id, rec.Kind, rec.Kind))
		return
	}
	// Adopting a restore point left by an interrupted apply finishes that
	// apply's work.
	if rec, err = r.engine.ConfirmBackup(ctx, pool, rec); err != nil {
		resp.Diagnostics.AddError("Cannot import backup "+id, err.Error())
		return
	}
	var m backupModel
	m.Timeouts = backupTimeouts.null()
	m.fromRecord(rec, pool)
	m.BackupClusterFSID = types.StringNull()
	if fsid, err := r.engine.BackupCluster.FSID(ctx); err == nil {
		m.BackupClusterFSID = types.StringValue(fsid)
	}
	resp.Diagnostics.Append(writeBackupModel(ctx, resp.State.Set, r.kind, &m)...)
	setIdentity(ctx, resp.Identity, &m, &resp.Diagnostics)
}

// sourcePool is the pool path of the source image.
func (m *backupAttrs) sourcePool() string { return poolPath(m.Pool, m.Namespace) }

// backupPool is the pool path of the backup image.
func (m *backupAttrs) backupPool() string {
	return cephconn.PoolPath(m.BackupPool.ValueString(), backupNamespace(m.Namespace, m.BackupNamespace))
}

func (m *backupModel) fromRecord(rec chain.Record, backupPool string) {
	m.ID = types.StringValue(rec.ID)
	setPoolPath(rec.Pool, &m.Pool, &m.Namespace)
	m.Image = types.StringValue(rec.Image)
	setBackupPoolPath(backupPool, m.Namespace, &m.BackupPool, &m.BackupNamespace)
	m.Snapshot = types.StringValue(rec.Snapshot)
	m.BackupImage = types.StringValue(chain.BackupImageName(rec.Image))
	m.Size = types.Int64Value(int64(rec.Size))
	m.TransferredBytes = types.Int64Value(int64(rec.TransferredBytes))
	m.CreatedAt = types.StringValue(rec.CreatedAt.UTC().Format(time.RFC3339))
	m.SHA256 = types.StringNull()
	if rec.SHA256 != "" {
		m.SHA256 = types.StringValue(rec.SHA256)
	}
	m.DeletionProtection = types.BoolValue(rec.DeletionProtection)
	// Null stays null while the record has no labels, so an unlabelled
	// backup does not show a change from null to {}.
	if len(rec.Labels) > 0 || !m.Labels.IsNull() && !m.Labels.IsUnknown() {
		m.Labels = labelsValue(rec.Labels)
	} else {
		m.Labels = types.MapNull(types.StringType)
	}
	if m.Verify.IsNull() || m.Verify.IsUnknown() {
		m.Verify = types.BoolValue(false) // imported: the default
	}
	if m.AdoptBackupImage.IsNull() || m.AdoptBackupImage.IsUnknown() {
		m.AdoptBackupImage = types.BoolValue(false)
	}
	if rec.ParentID != "" {
		m.ParentID = types.StringValue(rec.ParentID)
	}
}

// readBackupModel reads a plan or state into m; a full backup's schema has no
// parent_id and an incremental's no adopt_backup_image, so each fills its
// part (fullModel for a full).
func readBackupModel(ctx context.Context, get func(context.Context, any) diag.Diagnostics, kind chain.Kind, m *backupModel) diag.Diagnostics {
	if kind == chain.Full {
		var f fullModel
		diags := get(ctx, &f)
		m.backupAttrs, m.AdoptBackupImage = f.backupAttrs, f.AdoptBackupImage
		return diags
	}
	return get(ctx, m)
}

// writeBackupModel is readBackupModel's counterpart for writing state.
func writeBackupModel(ctx context.Context, set func(context.Context, any) diag.Diagnostics, kind chain.Kind, m *backupModel) diag.Diagnostics {
	if kind == chain.Full {
		return set(ctx, &fullModel{backupAttrs: m.backupAttrs, AdoptBackupImage: m.AdoptBackupImage})
	}
	return set(ctx, m)
}

// setIdentity records a backup's identity (backup pool and id) where
// Terraform asks for one.
func setIdentity(ctx context.Context, identity *tfsdk.ResourceIdentity, m *backupModel, diags *diag.Diagnostics) {
	if identity != nil {
		diags.Append(identity.Set(ctx, identityOf(m.backupPool(), m.ID.ValueString()))...)
	}
}
