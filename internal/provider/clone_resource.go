package provider

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
)

var (
	_ resource.ResourceWithConfigure  = &cloneResource{}
	_ resource.ResourceWithModifyPlan = &cloneResource{}
)

// NewCloneResource is cephbackup_clone.
func NewCloneResource() resource.Resource { return &cloneResource{} }

type cloneResource struct {
	engine *engine.Engine
}

type cloneModel struct {
	ID              types.String   `tfsdk:"id"`
	BackupID        types.String   `tfsdk:"backup_id"`
	Image           types.String   `tfsdk:"image"`
	BackupPool      types.String   `tfsdk:"backup_pool"`
	BackupNamespace types.String   `tfsdk:"backup_namespace"`
	TargetPool      types.String   `tfsdk:"target_pool"`
	TargetNamespace types.String   `tfsdk:"target_namespace"`
	TargetImage     types.String   `tfsdk:"target_image"`
	Flatten         types.Bool     `tfsdk:"flatten"`
	Flattened       types.Bool     `tfsdk:"flattened"`
	Snapshot        types.String   `tfsdk:"snapshot"`
	Size            types.Int64    `tfsdk:"size"`
	BackupFSID      types.String   `tfsdk:"backup_cluster_fsid"`
	Timeouts        timeouts.Value `tfsdk:"timeouts"`
}

func (r *cloneResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_clone"
}

func (r *cloneResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.engine = engineFrom(req.ProviderData, &resp.Diagnostics)
}

func (r *cloneResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "An instant restore: a copy-on-write clone of a restore point, on the backup cluster, usable in about a second whatever " +
			"the size (a DR VM boots from it, an operator inspects it). Unchanged data is read from the restore point, writes go to the clone, " +
			"and the restore point is never changed. While the clone depends on it, the restore point cannot be deleted: its deletion is refused " +
			"at plan and at apply, naming the clone. `flatten = true` copies the rest into the clone, online, and ends the dependency. " +
			"Destroying the resource deletes the clone (only an image this provider cloned). A changed argument other than `flatten` replaces the clone.",
		Attributes: map[string]schema.Attribute{
			"id":               computedString("`<target_pool>/<target_image>`."),
			"backup_id":        schema.StringAttribute{Required: true, MarkdownDescription: "The restore point to clone.", Validators: []validator.String{backupIDValidator}, PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()}},
			"image":            requiredName("The backed-up image whose restore point it is."),
			"backup_pool":      requiredName("Pool on the backup cluster that holds the backups."),
			"target_pool":      requiredName("Pool on the backup cluster for the clone (a clone cannot span clusters)."),
			"backup_namespace": namespaceAttr("RADOS namespace of `backup_pool` that holds the backups; default: the pool's default namespace."),
			"target_namespace": namespaceAttr("RADOS namespace of `target_pool` for the clone; default: the pool's default namespace."),
			"target_image":     requiredName("Name of the clone; it must not exist: a clone never overwrites an image."),
			"flatten": optionalBool("Copy what the clone still reads from the restore point into it, so that it stands alone and the restore point can be deleted. " +
				"Set it on an existing clone to flatten it in place, while clients keep using it; the apply takes as long as copying the data not yet written. " +
				"A flatten stopped by the `create`/`update` timeout keeps what it copied, and the next apply finishes it; while a client (a VM) holds the clone's " +
				"exclusive lock, librbd runs the flatten in that client, and the apply waits for it to end, timeout or not. " +
				"Setting it back to `false` changes nothing."),
			"flattened":           schema.BoolAttribute{Computed: true, MarkdownDescription: "Whether the clone stands alone (flattened, here or outside Terraform)."},
			"snapshot":            computedString("The restore point's snapshot on the backup image: the clone's parent."),
			"size":                computedInt64("Size of the clone in bytes."),
			"backup_cluster_fsid": clusterFSIDAttr("backup_cluster"),
		},
		Blocks: map[string]schema.Block{"timeouts": cloneTimeouts.block(ctx)},
	}
}

func (m cloneModel) request() engine.CloneRequest {
	return engine.CloneRequest{BackupPool: poolPath(m.BackupPool, m.BackupNamespace), Image: m.Image.ValueString(), BackupID: m.BackupID.ValueString(),
		TargetPool: m.targetPool(), TargetImage: m.TargetImage.ValueString()}
}

// ModifyPlan checks a new clone at plan time: the restore point exists and
// the target does not.
func (r *cloneResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || r.engine == nil || !req.State.Raw.IsNull() && len(resp.RequiresReplace) == 0 {
		return
	}
	var plan cloneModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	for _, v := range []types.String{plan.BackupID, plan.Image, plan.BackupPool, plan.BackupNamespace, plan.TargetPool, plan.TargetNamespace, plan.TargetImage} {
		if v.IsUnknown() {
			return // checked at apply, before anything is made
		}
	}
	cr := plan.request()
	if _, err := r.engine.GetBackup(ctx, cr.BackupPool, cr.Image, cr.BackupID); err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("backup_id"), "Restore point not found",
			fmt.Sprintf("Backup %s of %s in pool %s: %v. Use the id of an existing restore point (data.cephbackup_restore_points lists them).", cr.BackupID, cr.Image, cr.BackupPool, err))
		return
	}
	if !req.State.Raw.IsNull() {
		return // a replacement deletes the old clone first
	}
	state, err := r.engine.ReadClone(ctx, cr.TargetPool, cr.TargetImage, cr.BackupID)
	switch {
	case err != nil && !errors.Is(err, engine.ErrNotOurClone):
		resp.Diagnostics.AddError("Cannot check the target image", err.Error())
	case err != nil || state.Exists:
		resp.Diagnostics.AddAttributeError(path.Root("target_image"), "Target image exists",
			fmt.Sprintf("%s/%s already exists on the backup cluster: a clone never overwrites an image. Choose another target_image, or delete that image first if it is not needed.", cr.TargetPool, cr.TargetImage))
	}
}

func (r *cloneResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan cloneModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel, ok := withTimeout(ctx, plan.Timeouts.Create, defaultCreateTimeout, &resp.Diagnostics)
	if !ok {
		return
	}
	defer cancel()
	cr := plan.request()
	rec, err := r.engine.Clone(ctx, cr)
	if err != nil {
		var field *engine.FieldError
		if errors.As(err, &field) {
			resp.Diagnostics.AddAttributeError(attributeOf(field), "Cannot clone the restore point", err.Error())
		} else {
			resp.Diagnostics.AddError("Cannot clone the restore point", err.Error())
		}
		return
	}
	plan.ID = types.StringValue(cr.TargetPool + "/" + cr.TargetImage)
	plan.Snapshot = types.StringValue(rec.Snapshot)
	plan.Size = types.Int64Value(int64(rec.Size))
	plan.Flattened = types.BoolValue(false)
	plan.BackupFSID = types.StringNull()
	if fsid, err := r.engine.BackupCluster.FSID(ctx); err == nil {
		plan.BackupFSID = types.StringValue(fsid)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...) // the clone exists: keep it in state whatever follows
	if plan.Flatten.ValueBool() {
		r.flatten(ctx, &plan, &resp.Diagnostics)
		resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	}
}

func (r *cloneResource) flatten(ctx context.Context, m *cloneModel, diags interface{ AddError(string, string) }) {
	if err := r.engine.FlattenClone(ctx, m.targetPool(), m.TargetImage.ValueString(), m.BackupID.ValueString()); err != nil {
		diags.AddError("Cannot flatten the clone", err.Error())
		return
	}
	m.Flattened = types.BoolValue(true)
}

func (r *cloneResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state cloneModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel, ok := withTimeout(ctx, state.Timeouts.Read, cloneTimeouts.read, &resp.Diagnostics)
	if !ok {
		return
	}
	defer cancel()
	what := "the clone " + state.targetPool() + "/" + state.TargetImage.ValueString()
	fsid, ok := checkCluster(ctx, r.engine.BackupCluster, "backup_cluster", state.BackupFSID, what, &resp.Diagnostics)
	if !ok {
		return
	}
	c, err := r.engine.ReadClone(ctx, state.targetPool(), state.TargetImage.ValueString(), state.BackupID.ValueString())
	if err != nil {
		resp.Diagnostics.AddError("Cannot read the clone", err.Error())
		return
	}
	if !c.Exists {
		resp.State.RemoveResource(ctx)
		return
	}
	state.Flattened = types.BoolValue(c.Flattened)
	state.Size = types.Int64Value(int64(c.Size))
	state.BackupFSID = types.StringValue(fsid)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func (r *cloneResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state cloneModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel, ok := withTimeout(ctx, plan.Timeouts.Update, defaultUpdateTimeout, &resp.Diagnostics)
	if !ok {
		return
	}
	defer cancel()
	state.Timeouts, state.Flatten = plan.Timeouts, plan.Flatten
	if plan.Flatten.ValueBool() && !state.Flattened.ValueBool() {
		r.flatten(ctx, &state, &resp.Diagnostics)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func (r *cloneResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state cloneModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel, ok := withTimeout(ctx, state.Timeouts.Delete, defaultDeleteTimeout, &resp.Diagnostics)
	if !ok {
		return
	}
	defer cancel()
	what := "the clone " + state.targetPool() + "/" + state.TargetImage.ValueString()
	if _, ok := checkCluster(ctx, r.engine.BackupCluster, "backup_cluster", state.BackupFSID, what, &resp.Diagnostics); !ok {
		return
	}
	if err := r.engine.RemoveClone(ctx, state.targetPool(), state.TargetImage.ValueString(), state.BackupID.ValueString()); err != nil {
		resp.Diagnostics.AddError("Cannot delete the clone", err.Error())
	}
}

// targetPool is the pool path of the clone.
func (m cloneModel) targetPool() string { return poolPath(m.TargetPool, m.TargetNamespace) }
