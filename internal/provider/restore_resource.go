package provider

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/boolplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
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
	SHA256                types.String   `tfsdk:"sha256"`
	TargetCreated         types.Bool     `tfsdk:"target_created"`
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
				Validators:    []validatorString{backupIDValidator{}},
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()}},
			"force": optionalBool(restoreArgDocs["force"] + " Changing it later does not restore again."),
			"delete_target_on_destroy": optionalBool("Delete the target image when this resource is destroyed, if this restore created it (see `target_created`). " +
				"Default false: the restored image stays. An image that existed before (overwritten with `force`) is never deleted, whatever this says. " +
				"Changing it does not restore again."),
			"target_created": schema.BoolAttribute{Computed: true,
				MarkdownDescription: "Whether this restore created the target image. It is also marked so on the image (metadata `cephbackup.created_by_restore`); " +
					"`delete_target_on_destroy` deletes only an image with both.",
				PlanModifiers: []planmodifier.Bool{boolplanmodifier.UseStateForUnknown()}},
			"size":           computedInt64("Size of the restored image in bytes (the restore point's size)."),
			"restored_bytes": computedInt64("Bytes of data written to the target (zeroed ranges not counted)."),
			"restored_at":    computedString("When the restore finished (RFC 3339)."),
			"verify":         optionalBool(restoreArgDocs["verify"] + " Changing it later does not restore again."),
			"sha256":         computedString("sha256 of the restored image, when verified; null otherwise."),
		},
		Blocks: map[string]schema.Block{"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true, Delete: true})},
	}
	for _, name := range restoreNameArgs {
		resp.Schema.Attributes[name] = requiredName(restoreArgDocs[name])
	}
}

func (r *restoreResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	// Only a new restore is checked: an existing one is never restored again.
	if req.Plan.Raw.IsNull() || !req.State.Raw.IsNull() {
		return
	}
	var plan restoreModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	checkRestore(ctx, r.engine, plan.restoreArgs, &resp.Diagnostics)
}

func (r *restoreResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan restoreModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
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
	exists, err := r.engine.ImageExists(ctx, state.TargetPool.ValueString(), state.TargetImage.ValueString())
	if err != nil {
		resp.Diagnostics.AddError("Cannot read the restored image", err.Error())
		return
	}
	if !exists {
		resp.State.RemoveResource(ctx)
	}
}

func (r *restoreResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	// Only force, delete_target_on_destroy and timeouts change in place: they
	// steer behaviour, they do not describe the restored data.
	var plan, state restoreModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	state.Force, state.DeleteTargetOnDestroy, state.Verify, state.Timeouts = plan.Force, plan.DeleteTargetOnDestroy, plan.Verify, plan.Timeouts
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func (r *restoreResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state restoreModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() || !state.DeleteTargetOnDestroy.ValueBool() {
		return
	}
	timeout, diags := state.Timeouts.Delete(ctx, defaultDeleteTimeout)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	target := state.TargetPool.ValueString() + "/" + state.TargetImage.ValueString()
	if !state.TargetCreated.ValueBool() {
		resp.Diagnostics.AddWarning("Target image kept",
			fmt.Sprintf("%s existed before this restore wrote into it (or this restore's state predates target_created), so it is not deleted "+
				"although delete_target_on_destroy is true: it is a volume of its own. Remove it with `rbd rm %s` if it is no longer needed.", target, target))
		return
	}
	kept, err := r.engine.RemoveRestoredImage(ctx, state.TargetPool.ValueString(), state.TargetImage.ValueString())
	switch {
	case err != nil:
		resp.Diagnostics.AddError("Cannot delete the restored image", err.Error())
	case kept:
		resp.Diagnostics.AddWarning("Target image kept",
			fmt.Sprintf("%s does not bear the mark of an image this provider's restore created (metadata cephbackup.created_by_restore): "+
				"it was replaced by another image of that name, so it is not deleted. Remove it with `rbd rm %s` if it is no longer needed.", target, target))
	}
}
