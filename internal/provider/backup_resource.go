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
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
)

// Generous defaults: a full backup of a large volume can take hours.
const (
	defaultCreateTimeout = 6 * time.Hour
	defaultDeleteTimeout = 30 * time.Minute
)

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

// backupModel is the state of both backup resources; ParentID stays null for
// a full backup, whose schema has no parent_id.
type backupModel struct {
	ID               types.String   `tfsdk:"id"`
	Pool             types.String   `tfsdk:"pool"`
	Image            types.String   `tfsdk:"image"`
	BackupPool       types.String   `tfsdk:"backup_pool"`
	Snapshot         types.String   `tfsdk:"snapshot"`
	BackupImage      types.String   `tfsdk:"backup_image"`
	Size             types.Int64    `tfsdk:"size"`
	TransferredBytes types.Int64    `tfsdk:"transferred_bytes"`
	CreatedAt        types.String   `tfsdk:"created_at"`
	Verify           types.Bool     `tfsdk:"verify"`
	SHA256           types.String   `tfsdk:"sha256"`
	Timeouts         timeouts.Value `tfsdk:"timeouts"`
}

type incrementalModel struct {
	backupModel
	ParentID types.String `tfsdk:"parent_id"`
}

func (r *backupResource) typeName() string { return "cephbackup_" + string(r.kind) }

func (r *backupResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_" + string(r.kind)
}

func (r *backupResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.engine = engineFrom(req.ProviderData, &resp.Diagnostics)
}

func computedString(desc string) schema.StringAttribute {
	return schema.StringAttribute{Computed: true, MarkdownDescription: desc,
		PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}}
}

func computedInt64(desc string) schema.Int64Attribute {
	return schema.Int64Attribute{Computed: true, MarkdownDescription: desc,
		PlanModifiers: []planmodifier.Int64{int64planmodifier.UseStateForUnknown()}}
}

func optionalBool(desc string) schema.BoolAttribute {
	return schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(false), MarkdownDescription: desc}
}

func requiredName(desc string) schema.StringAttribute {
	return schema.StringAttribute{Required: true, MarkdownDescription: desc,
		Validators:    []validatorString{nameValidator{}},
		PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()}}
}

func (r *backupResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	attrs := map[string]schema.Attribute{
		"id":                computedString("The backup id, a UUID. Also part of the snapshot name."),
		"pool":              requiredName("Pool of the source image on `cluster`."),
		"image":             requiredName("The source RBD image."),
		"backup_pool":       requiredName("Pool on `backup_cluster` (or `cluster`) that holds the backup image `<image>.backup.base`."),
		"snapshot":          computedString("Name of the backup's snapshot, `backup.<id>.snap.<unix seconds>`: on the source image and, as the restore point, on the backup image."),
		"backup_image":      computedString("The backup image, `<image>.backup.base` in `backup_pool`."),
		"size":              computedInt64("Size in bytes of the source image at the snapshot, and of the restore point."),
		"transferred_bytes": computedInt64("Bytes of data written to the backup image by this backup (zeroed ranges not counted)."),
		"created_at":        computedString("When the backup's snapshot was taken (RFC 3339)."),
		"verify":            optionalBool("After the transfer, read the copy back and compare its sha256 with the source snapshot's (both read in parallel) before the restore point is taken: a mismatch fails the apply and no restore point is made. The checksum is recorded on the backup cluster, so restores can later prove integrity without the source."),
		"sha256":            computedString("sha256 of the restore point's content (as `rbd export ... - | sha256sum` prints it), when it was verified; null otherwise."),
	}
	desc := "A full backup of an RBD image: the whole image, as of a new snapshot, copied into the backup image and " +
		"kept there as a snapshot (the restore point). Every argument forces a new backup."
	if r.kind == chain.Incremental {
		attrs["parent_id"] = schema.StringAttribute{Required: true,
			MarkdownDescription: "Id of the backup this one continues: a `cephbackup_full` or another `cephbackup_incremental` of the same image. " +
				"Reference the parent's `id` attribute so that Terraform creates parents first and destroys children first.",
			Validators:    []validatorString{backupIDValidator{}},
			PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()}}
		desc = "An incremental backup of an RBD image: only the extents changed since the parent backup's snapshot are sent, " +
			"and the result is a restore point as complete as a full one. Every argument forces a new backup."
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: desc,
		Attributes:          attrs,
		Blocks:              map[string]schema.Block{"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true, Delete: true})},
	}
}

func (r *backupResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	// A new backup's names are checked against the clusters at plan time,
	// so a typo fails the plan instead of the apply.
	if req.Plan.Raw.IsNull() || !req.State.Raw.IsNull() || r.engine == nil {
		return
	}
	var plan incrementalModel
	resp.Diagnostics.Append(getInto(ctx, req.Plan.Get, r.kind, &plan)...)
	if resp.Diagnostics.HasError() || plan.Image.IsUnknown() || plan.BackupPool.IsUnknown() || plan.Pool.IsUnknown() {
		return
	}
	err := r.engine.CheckBackupInputs(ctx, plan.Pool.ValueString(), plan.Image.ValueString(), plan.BackupPool.ValueString())
	var missing *engine.FieldError
	switch {
	case errors.As(err, &missing) && engine.IsNotFound(missing.Err):
		resp.Diagnostics.AddAttributeError(path.Root(missing.Field), "Not found on the cluster",
			missing.Error()+". Check the name and which cluster it is on (pool and image: cluster; backup_pool: backup_cluster).")
		return
	case errors.As(err, &missing):
		resp.Diagnostics.AddAttributeError(path.Root(missing.Field), "Cannot back up into this pool", missing.Error()+".")
		return
	case err != nil:
		resp.Diagnostics.AddError("Cannot plan the backup", err.Error())
		return
	}
	if r.kind != chain.Incremental || plan.ParentID.IsUnknown() {
		return
	}
	parent, err := r.engine.GetBackup(ctx, plan.BackupPool.ValueString(), plan.Image.ValueString(), plan.ParentID.ValueString())
	switch {
	case errors.Is(err, engine.ErrGone):
		resp.Diagnostics.AddAttributeError(path.Root("parent_id"), "Parent backup not found",
			fmt.Sprintf("No restore point with id %s of image %s is recorded in pool %s of the backup cluster (it never existed, belongs to another image, or was deleted). "+
				"Point parent_id at an existing backup of the same image, or take a new full backup.",
				plan.ParentID.ValueString(), plan.Image.ValueString(), plan.BackupPool.ValueString()))
	case err != nil:
		resp.Diagnostics.AddError("Cannot check the parent backup", err.Error())
	case parent.Pool != plan.Pool.ValueString():
		resp.Diagnostics.AddAttributeError(path.Root("parent_id"), "Parent backup is of another image",
			fmt.Sprintf("Backup %s was taken of %s/%s, not of %s/%s.", parent.ID, parent.Pool, parent.Image, plan.Pool.ValueString(), plan.Image.ValueString()))
	default:
		if err := r.engine.CheckParentSnapshot(ctx, parent); err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("parent_id"), "Parent backup cannot be continued", err.Error()+".")
		}
	}
}

func (r *backupResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan incrementalModel
	resp.Diagnostics.Append(getInto(ctx, req.Plan.Get, r.kind, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, diags := plan.Timeouts.Create(ctx, defaultCreateTimeout)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	breq := engine.BackupRequest{
		Pool: plan.Pool.ValueString(), Image: plan.Image.ValueString(),
		BackupPool: plan.BackupPool.ValueString(), ParentID: plan.ParentID.ValueString(),
		Verify: plan.Verify.ValueBool(),
	}
	rec, err := r.engine.Backup(ctx, breq, func(started chain.Record) {
		// Saved with the error below if the transfer fails: Terraform then
		// keeps the backup as tainted and deletes it cleanly on the next apply.
		plan.fromRecord(started, breq.BackupPool)
		resp.Diagnostics.Append(setFrom(ctx, resp.State.Set, r.kind, &plan)...)
	})
	if err != nil {
		resp.Diagnostics.AddError(fmt.Sprintf("Backup of %s/%s failed", breq.Pool, breq.Image), err.Error()+
			"\n\nNo restore point was created by this attempt, and existing restore points are untouched.")
		return
	}
	plan.fromRecord(rec, breq.BackupPool)
	resp.Diagnostics.Append(setFrom(ctx, resp.State.Set, r.kind, &plan)...)
}

func (r *backupResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state incrementalModel
	resp.Diagnostics.Append(getInto(ctx, req.State.Get, r.kind, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	rec, err := r.engine.GetBackup(ctx, state.BackupPool.ValueString(), state.Image.ValueString(), state.ID.ValueString())
	if errors.Is(err, engine.ErrGone) {
		// The restore point is gone: plan a new backup in its place.
		resp.State.RemoveResource(ctx)
		if errors.Is(err, engine.ErrForgotten) {
			snap := fmt.Sprintf("%s/%s@%s", state.Pool.ValueString(), state.Image.ValueString(), state.Snapshot.ValueString())
			resp.Diagnostics.AddWarning("Backup deleted outside Terraform",
				fmt.Sprintf("Backup %s and its record are gone from pool %s of the backup cluster, so Terraform will plan it again. "+
					"Its source snapshot %s, if it still exists, is no longer known to be this provider's and is left alone: "+
					"remove it with `rbd snap rm %s` once nothing needs it.",
					state.ID.ValueString(), state.BackupPool.ValueString(), snap, snap))
		}
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Cannot read backup "+state.ID.ValueString(), err.Error())
		return
	}
	state.fromRecord(rec, state.BackupPool.ValueString())
	resp.Diagnostics.Append(setFrom(ctx, resp.State.Set, r.kind, &state)...)
}

func (r *backupResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	// Only verify and timeouts change in place: they steer how a backup is
	// taken, not what it holds.
	var plan, state incrementalModel
	resp.Diagnostics.Append(getInto(ctx, req.Plan.Get, r.kind, &plan)...)
	resp.Diagnostics.Append(getInto(ctx, req.State.Get, r.kind, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	state.Verify, state.Timeouts = plan.Verify, plan.Timeouts
	resp.Diagnostics.Append(setFrom(ctx, resp.State.Set, r.kind, &state)...)
}

func (r *backupResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state incrementalModel
	resp.Diagnostics.Append(getInto(ctx, req.State.Get, r.kind, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, diags := state.Timeouts.Delete(ctx, defaultDeleteTimeout)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	warnings, err := r.engine.Delete(ctx, engine.DeleteRequest{
		BackupPool: state.BackupPool.ValueString(), Pool: state.Pool.ValueString(), Image: state.Image.ValueString(),
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
	pool, id, err := chain.ParseImportID(req.ID)
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
	var m incrementalModel
	m.Timeouts = timeouts.Value{Object: types.ObjectNull(timeoutsAttrTypes("create", "delete"))}
	m.fromRecord(rec, pool)
	resp.Diagnostics.Append(setFrom(ctx, resp.State.Set, r.kind, &m)...)
}

func (m *incrementalModel) fromRecord(rec chain.Record, backupPool string) {
	m.ID = types.StringValue(rec.ID)
	m.Pool = types.StringValue(rec.Pool)
	m.Image = types.StringValue(rec.Image)
	m.BackupPool = types.StringValue(backupPool)
	m.Snapshot = types.StringValue(rec.Snapshot)
	m.BackupImage = types.StringValue(chain.BackupImageName(rec.Image))
	m.Size = types.Int64Value(int64(rec.Size))
	m.TransferredBytes = types.Int64Value(int64(rec.TransferredBytes))
	m.CreatedAt = types.StringValue(rec.CreatedAt.UTC().Format(time.RFC3339))
	m.SHA256 = types.StringNull()
	if rec.SHA256 != "" {
		m.SHA256 = types.StringValue(rec.SHA256)
	}
	if m.Verify.IsNull() || m.Verify.IsUnknown() {
		m.Verify = types.BoolValue(false) // imported: the default
	}
	if rec.ParentID != "" {
		m.ParentID = types.StringValue(rec.ParentID)
	}
}

// getInto reads a plan or state into m; a full backup's schema has no
// parent_id, so it fills only the embedded part.
func getInto(ctx context.Context, get func(context.Context, any) diag.Diagnostics, kind chain.Kind, m *incrementalModel) diag.Diagnostics {
	if kind == chain.Full {
		return get(ctx, &m.backupModel)
	}
	return get(ctx, m)
}

// setFrom is getInto's counterpart for writing state.
func setFrom(ctx context.Context, set func(context.Context, any) diag.Diagnostics, kind chain.Kind, m *incrementalModel) diag.Diagnostics {
	if kind == chain.Full {
		return set(ctx, &m.backupModel)
	}
	return set(ctx, m)
}

func timeoutsAttrTypes(names ...string) map[string]attr.Type {
	types := make(map[string]attr.Type, len(names))
	for _, n := range names {
		types[n] = basetypes.StringType{}
	}
	return types
}
