package provider

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/boolplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
)

var (
	_ resource.ResourceWithConfigure  = &restoreResource{}
	_ resource.ResourceWithModifyPlan = &restoreResource{}
)

// NewRestoreResource is cephbackup_restore.
func NewRestoreResource() resource.Resource { return &restoreResource{} }

type restoreResource struct {
	engine *engine.Engine
}

type restoreModel struct {
	restoreArgs
	ID                    types.String   `tfsdk:"id"`
	DeleteTargetOnDestroy types.Bool     `tfsdk:"delete_target_on_destroy"`
	Size                  types.Int64    `tfsdk:"size"`
	RestoredBytes         types.Int64    `tfsdk:"restored_bytes"`
	RestoredAt            types.String   `tfsdk:"restored_at"`
	OverwriteOnReplace    types.Bool     `tfsdk:"overwrite_on_replace"`
	SHA256                types.String   `tfsdk:"sha256"`
	TargetCreated         types.Bool     `tfsdk:"target_created"`
	ClusterFSID           types.String   `tfsdk:"cluster_fsid"`
	Timeouts              timeouts.Value `tfsdk:"timeouts"`
}

func (r *restoreResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_restore"
}

func (r *restoreResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.engine = engineFrom(req.ProviderData, &resp.Diagnostics)
}

func (r *restoreResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Restores a restore point from the backup cluster into an image on `cluster`. " +
			"The source image and the source cluster are not needed, so this works in a disaster, with `cluster` pointed at a replacement cluster. " +
			"**Destroying this resource leaves the restored image in place** unless `delete_target_on_destroy` is true: restored data is user data. " +
			"It restores when created or replaced, so pin `backup_id`; to restore once with Terraform 1.14 or later, use the `cephbackup_restore` action.",
		Attributes: map[string]schema.Attribute{
			"id": computedString("`<target_pool>/<target_image>`."),
			"backup_id": schema.StringAttribute{Required: true, MarkdownDescription: restoreArgDocs["backup_id"],
				Validators: []validator.String{backupIDValidator}},
			"force": optionalBool(restoreArgDocs["force"] + " Changing it later does not restore again."),
			"delete_target_on_destroy": optionalBool("Delete the target image when this resource is destroyed, if this restore created it (see `target_created`). " +
				"Default false: the restored image stays. An image that existed before (overwritten with `force`) is never deleted, whatever this says. " +
				"Changing it does not restore again."),
			"target_created": schema.BoolAttribute{Computed: true,
				MarkdownDescription: "Whether this restore created the target image. It is also marked so on the image (metadata `cephbackup.created_by_restore`); " +
					"`delete_target_on_destroy` deletes only an image with both.",
				PlanModifiers: []planmodifier.Bool{boolplanmodifier.UseStateForUnknown()}},
			"cluster_fsid":   clusterFSIDAttr("cluster"),
			"size":           computedInt64("Size of the restored image in bytes (the restore point's size)."),
			"restored_bytes": computedInt64("Bytes of data written to the target (zeroed ranges not counted)."),
			"restored_at":    computedString("When the restore finished (RFC 3339)."),
			"verify":         optionalBool(restoreArgDocs["verify"] + " Changing it later does not restore again."),
			"overwrite_on_replace": optionalBool("Allow a replacement of this restore to overwrite an existing image. A restore is a one-off: " +
				"when `backup_id` (or another attribute that forces a replacement) changes while `force = true` and the target image exists, " +
				"the replacement would overwrite that image, typically the live volume, again with another restore point, so the plan warns and the apply refuses the change, with nothing changed (a plan error would also block `terraform destroy`). " +
				"Set it to `true` for the apply that is meant to restore again, or pin `backup_id`, or remove the resource (a `removed` block keeps the image). " +
				"Changes in place; changing it does not restore again."),
			"sha256": computedString("sha256 of the restored image, when verified; null otherwise."),
		},
		Blocks: map[string]schema.Block{"timeouts": restoreTimeouts.block(ctx)},
	}
	for _, name := range restoreNameArgs {
		resp.Schema.Attributes[name] = requiredName(restoreArgDocs[name])
	}
	resp.Schema.Attributes["namespace"] = namespaceAttr(restoreArgDocs["namespace"])
	resp.Schema.Attributes["target_namespace"] = namespaceAttr(restoreArgDocs["target_namespace"])
	resp.Schema.Attributes["backup_namespace"] = backupNamespaceAttr()
	// planReplacement decides when a changed name replaces a restore.
	for _, name := range append([]string{"backup_namespace"}, replacingAttributes...) {
		a := resp.Schema.Attributes[name].(schema.StringAttribute)
		a.PlanModifiers = nil
		resp.Schema.Attributes[name] = a
	}
}

func (r *restoreResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return
	}
	if !req.State.Raw.IsNull() {
		r.planReplacement(ctx, req, resp)
		return
	}
	if r.engine == nil {
		return
	}
	// A new restore is checked against both clusters at plan time, so that
	// a wrong id or an existing target fails the plan, not the apply.
	var plan restoreModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	checkRestore(ctx, r.engine, plan.restoreArgs, &resp.Diagnostics)
}

// replacingAttributes are the attributes whose change replaces a restore (so
// does backup_namespace, when the namespace it stands for changes): a
// replacement restores again. planReplacement, not their schema, decides it.
var replacingAttributes = []string{"backup_id", "pool", "namespace", "image", "backup_pool", "target_pool", "target_namespace", "target_image"}

// attributeReader is a plan or a state.
type attributeReader interface {
	GetAttribute(ctx context.Context, p path.Path, target any) diag.Diagnostics
}

// changedReplacingAttributes lists the replacing attributes whose planned
// value differs from the state (an unknown value differs).
func changedReplacingAttributes(ctx context.Context, plan, state attributeReader, diags *diag.Diagnostics) []string {
	var changed []string
	for _, name := range replacingAttributes {
		var p, s types.String
		diags.Append(plan.GetAttribute(ctx, path.Root(name), &p)...)
		diags.Append(state.GetAttribute(ctx, path.Root(name), &s)...)
		if !p.Equal(s) {
			changed = append(changed, name)
		}
	}
	var pn, sn, pb, sb types.String
	diags.Append(plan.GetAttribute(ctx, path.Root("namespace"), &pn)...)
	diags.Append(state.GetAttribute(ctx, path.Root("namespace"), &sn)...)
	diags.Append(plan.GetAttribute(ctx, path.Root("backup_namespace"), &pb)...)
	diags.Append(state.GetAttribute(ctx, path.Root("backup_namespace"), &sb)...)
	if backupNamespace(pn, pb) != backupNamespace(sn, sb) {
		changed = append(changed, "backup_namespace")
	}
	return changed
}

const (
	overwriteAgainSummary = "Replacing this restore would overwrite an image again"
	overwriteAgainTodo    = "A restore is a one-off operation: pin backup_id to the restore point chosen for the incident (a literal id, or a variable set for it) " +
		"instead of an expression that follows the newest restore point. If restoring again is really meant, set overwrite_on_replace = true " +
		"for this apply. If the restore is done, take the resource out of the configuration: a `removed` block with `lifecycle { destroy = false }` " +
		"(Terraform >= 1.7) forgets it without touching anything; deleting the block destroys it, which keeps the image unless " +
		"delete_target_on_destroy = true and this restore created it."
)

// planReplacement plans the replacement of this restore when a replacing
// attribute changes, unless that replacement would overwrite an existing
// image (force = true) with a restore point again without
// overwrite_on_replace. A restore is a one-off: a backup_id that follows
// "the newest restore point" changes with every backup, and each replacement
// would roll the live volume back to the point just taken. Such a change is
// planned in place with a warning, and the apply refuses it (Update): a plan
// error would also fail the plan that `terraform destroy` runs first, and
// nothing may make a destroy impossible.
func (r *restoreResource) planReplacement(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	var plan, state restoreModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	changed := changedReplacingAttributes(ctx, req.Plan, req.State, &resp.Diagnostics)
	if resp.Diagnostics.HasError() || len(changed) == 0 {
		return
	}
	if refusal := r.overwriteAgain(ctx, plan, state, changed); refusal != "" {
		resp.Diagnostics.AddAttributeWarning(path.Root(changed[0]), overwriteAgainSummary, refusal+
			" The apply will refuse this change and leave the image, the restore points and this restore as they are "+
			"(`terraform destroy` is not affected).\n\n"+overwriteAgainTodo)
		return
	}
	for _, name := range changed {
		resp.RequiresReplace = append(resp.RequiresReplace, path.Root(name))
	}
}

// overwriteAgain says why replacing this restore would overwrite an existing
// image with another restore point, or "" when it would not: without force
// the new restore refuses an existing target itself (checked when Terraform
// plans the create), and overwrite_on_replace says it is meant.
func (r *restoreResource) overwriteAgain(ctx context.Context, plan, state restoreModel, changed []string) string {
	if r.engine == nil || plan.OverwriteOnReplace.ValueBool() || (!plan.Force.IsUnknown() && !plan.Force.ValueBool()) {
		return ""
	}
	newID := plan.BackupID.ValueString()
	if plan.BackupID.IsUnknown() {
		newID = "a restore point known only after apply (for example the newest one, read from a data source during the apply)"
	}
	what := fmt.Sprintf("This plan would replace cephbackup_restore %s (changed: %s): the replacement restores %s", state.ID.ValueString(),
		strings.Join(changed, ", "), newID)
	if plan.TargetPool.IsUnknown() || plan.TargetImage.IsUnknown() {
		return what + " into a target that is not known until apply, with force = true: it may overwrite an existing image."
	}
	target := plan.target()
	exists, err := r.engine.ImageExists(ctx, plan.targetPool(), plan.TargetImage.ValueString())
	switch {
	case err != nil && engine.IsNotFound(err):
		return "" // the target pool is missing: the create plan says so
	case err != nil:
		return fmt.Sprintf("%s into %s, with force = true. Whether that image exists could not be read (%v).", what, target, err)
	case exists:
		return fmt.Sprintf("%s into %s with force = true: it would overwrite the existing image %s with another restore point, "+
			"and whatever was written to it since (it may be in use again) would be lost.", what, target, target)
	}
	return ""
}

func (r *restoreResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan restoreModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel, ok := withTimeout(ctx, plan.Timeouts.Create, defaultCreateTimeout, &resp.Diagnostics)
	if !ok {
		return
	}
	defer cancel()
	res, err := r.engine.Restore(ctx, plan.request())
	if err != nil {
		restoreFailed(plan.restoreArgs, err, &resp.Diagnostics)
		return
	}
	plan.ID = types.StringValue(plan.target())
	plan.Size = types.Int64Value(int64(res.Record.Size))
	plan.RestoredBytes = types.Int64Value(int64(res.RestoredBytes))
	plan.RestoredAt = types.StringValue(time.Now().UTC().Format(time.RFC3339))
	plan.TargetCreated = types.BoolValue(res.CreatedTarget)
	plan.ClusterFSID = types.StringNull()
	if fsid, err := r.engine.SourceCluster.FSID(ctx); err == nil {
		plan.ClusterFSID = types.StringValue(fsid)
	}
	plan.SHA256 = types.StringNull()
	if res.SHA256 != "" {
		plan.SHA256 = types.StringValue(res.SHA256)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *restoreResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state restoreModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel, ok := withTimeout(ctx, state.Timeouts.Read, restoreTimeouts.read, &resp.Diagnostics)
	if !ok {
		return
	}
	defer cancel()
	forgetIfGone(ctx, r.engine, state.ClusterFSID, state.targetPool(), state.TargetImage.ValueString(), "the restored image", resp)
}

func (r *restoreResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	// Only force, delete_target_on_destroy, verify, overwrite_on_replace and
	// timeouts change in place: they
	// steer behaviour, they do not describe the restored data.
	var plan, state restoreModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if changed := changedReplacingAttributes(ctx, req.Plan, req.State, &resp.Diagnostics); len(changed) > 0 {
		resp.Diagnostics.AddAttributeError(path.Root(changed[0]), overwriteAgainSummary, fmt.Sprintf(
			"This apply would restore %s into %s again (changed: %s), with force = true, overwriting the existing image and whatever was written "+
				"to it since the restore. Refused: nothing was changed.\n\n%s",
			plan.BackupID.ValueString(), plan.target(), strings.Join(changed, ", "), overwriteAgainTodo))
		resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
		return
	}
	state.Force, state.DeleteTargetOnDestroy, state.Verify, state.Timeouts = plan.Force, plan.DeleteTargetOnDestroy, plan.Verify, plan.Timeouts
	state.OverwriteOnReplace, state.BackupNamespace = plan.OverwriteOnReplace, plan.BackupNamespace
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func (r *restoreResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state restoreModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() || !state.DeleteTargetOnDestroy.ValueBool() {
		return
	}
	ctx, cancel, ok := withTimeout(ctx, state.Timeouts.Delete, defaultDeleteTimeout, &resp.Diagnostics)
	if !ok {
		return
	}
	defer cancel()
	target := state.target()
	if !state.TargetCreated.ValueBool() {
		resp.Diagnostics.AddWarning("Target image kept",
			fmt.Sprintf("%s existed before this restore wrote into it (or this restore's state predates target_created), so it is not deleted "+
				"although delete_target_on_destroy is true: it is a volume of its own. Remove it with `rbd rm %s` if it is no longer needed.", target, target))
		return
	}
	if _, ok := checkCluster(ctx, r.engine.SourceCluster, "cluster", state.ClusterFSID, "the restored image "+target, &resp.Diagnostics); !ok {
		return
	}
	kept, err := r.engine.RemoveRestoredImage(ctx, state.targetPool(), state.TargetImage.ValueString())
	switch {
	case err != nil:
		resp.Diagnostics.AddError("Cannot delete the restored image", err.Error())
	case kept:
		resp.Diagnostics.AddWarning("Target image kept",
			fmt.Sprintf("%s does not bear the mark of an image this provider's restore created (metadata cephbackup.created_by_restore): "+
				"it was replaced by another image of that name, so it is not deleted. Remove it with `rbd rm %s` if it is no longer needed.", target, target))
	}
}
