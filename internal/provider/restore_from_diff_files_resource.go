package provider

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
)

var (
	_ resource.ResourceWithConfigure  = &restoreFromDiffFilesResource{}
	_ resource.ResourceWithModifyPlan = &restoreFromDiffFilesResource{}
)

// NewRestoreFromDiffFilesResource is cephbackup_restore_from_diff_files.
func NewRestoreFromDiffFilesResource() resource.Resource { return &restoreFromDiffFilesResource{} }

type restoreFromDiffFilesResource struct {
	engine *engine.Engine
}

type restoreFromDiffFilesModel struct {
	ID              types.String   `tfsdk:"id"`
	DiffFiles       []types.String `tfsdk:"diff_files"`
	TargetPool      types.String   `tfsdk:"target_pool"`
	TargetNamespace types.String   `tfsdk:"target_namespace"`
	TargetImage     types.String   `tfsdk:"target_image"`
	Snapshot        types.String   `tfsdk:"snapshot"`
	BackupID        types.String   `tfsdk:"backup_id"`
	Size            types.Int64    `tfsdk:"size"`
	WrittenBytes    types.Int64    `tfsdk:"written_bytes"`
	ClusterFSID     types.String   `tfsdk:"cluster_fsid"`
	Timeouts        timeouts.Value `tfsdk:"timeouts"`
}

func (r *restoreFromDiffFilesResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_restore_from_diff_files"
}

func (r *restoreFromDiffFilesResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.engine = engineFrom(req.ProviderData, &resp.Diagnostics)
}

func (r *restoreFromDiffFilesResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Rebuilds a volume on `cluster` from rbd diff files alone (as `cephbackup_diff_file` or `rbd export-diff` write them): " +
			"the disaster where the source and the backup cluster are both lost. The backup cluster is not read. " +
			"The files are checked as a sequence at plan time and again before anything is written; a failed apply removes the partly written image. " +
			"**Destroying this resource leaves the restored image in place**: restored data is user data. A changed argument replaces the resource, " +
			"which refuses to write into the image it restored before (remove or rename it first).",
		Attributes: map[string]schema.Attribute{
			"id": computedString("`<target_pool>/<target_image>`."),
			"diff_files": schema.ListAttribute{Required: true, ElementType: types.StringType,
				Validators:    []validator.List{listvalidator.SizeAtLeast(1)},
				PlanModifiers: []planmodifier.List{listplanmodifier.RequiresReplace()},
				MarkdownDescription: "Paths of the diff files on the machine running Terraform, oldest first: the diff of a whole restore point " +
					"(a `cephbackup_diff_file` without `from_backup_id`, or `rbd export-diff pool/image@snap`), then each incremental, " +
					"each starting at the snapshot the one before it ends at."},
			"target_pool":      requiredName("Pool on `cluster` for the rebuilt image."),
			"target_namespace": namespaceAttr("RADOS namespace of `target_pool` for the rebuilt image; default: the pool's default namespace."),
			"target_image":     requiredName("Name of the rebuilt image; it must not exist."),
			"snapshot":         computedString("The snapshot the last file ends at: the point in time the image holds."),
			"backup_id":        computedString("The backup that snapshot belongs to, when it is one of this provider's; null otherwise."),
			"size":             computedInt64("Size of the rebuilt image in bytes."),
			"written_bytes":    computedInt64("Bytes of data written (zeroed ranges not counted)."),
			"cluster_fsid":     clusterFSIDAttr("cluster"),
		},
		Blocks: map[string]schema.Block{"timeouts": fromFilesTimeouts.block(ctx)},
	}
}

func (m restoreFromDiffFilesModel) files() []string {
	out := make([]string, len(m.DiffFiles))
	for i, f := range m.DiffFiles {
		out[i] = f.ValueString()
	}
	return out
}

// ModifyPlan checks the files and the target at plan time.
func (r *restoreFromDiffFilesResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || r.engine == nil || !req.State.Raw.IsNull() && len(resp.RequiresReplace) == 0 {
		return
	}
	var plan restoreFromDiffFilesModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() || plan.DiffFiles == nil {
		return
	}
	for _, f := range plan.DiffFiles {
		if f.IsUnknown() {
			return // checked at apply, before anything is written
		}
	}
	if err := engine.CheckDiffFiles(ctx, plan.files()); err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("diff_files"), "Cannot rebuild the image from these files", err.Error()+".")
		return
	}
	if plan.TargetPool.IsUnknown() || plan.TargetNamespace.IsUnknown() || plan.TargetImage.IsUnknown() {
		return
	}
	exists, err := r.engine.ImageExists(ctx, plan.targetPool(), plan.TargetImage.ValueString())
	switch {
	case err != nil && engine.IsNotFound(err):
		resp.Diagnostics.AddAttributeError(path.Root("target_pool"), "Not found on the cluster", err.Error()+".")
	case err != nil:
		resp.Diagnostics.AddError("Cannot check the target image", err.Error())
	case exists:
		resp.Diagnostics.AddAttributeError(path.Root("target_image"), "Target image exists",
			fmt.Sprintf("%s/%s already exists on cluster: diff files are applied only to a new image, so that nothing of its old content is left. "+
				"Choose another target_image, or remove that image first.", plan.targetPool(), plan.TargetImage.ValueString()))
	}
}

func (r *restoreFromDiffFilesResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan restoreFromDiffFilesModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel, ok := withTimeout(ctx, plan.Timeouts.Create, defaultCreateTimeout, &resp.Diagnostics)
	if !ok {
		return
	}
	defer cancel()
	res, err := r.engine.RestoreFromDiffFiles(ctx, engine.DiffFilesRequest{Files: plan.files(),
		TargetPool: plan.targetPool(), TargetImage: plan.TargetImage.ValueString()})
	if err != nil {
		var field *engine.FieldError
		if errors.As(err, &field) {
			resp.Diagnostics.AddAttributeError(attributeOf(field), "Cannot rebuild the image", err.Error())
		} else {
			resp.Diagnostics.AddAttributeError(path.Root("diff_files"), "Cannot rebuild the image", err.Error())
		}
		return
	}
	plan.ID = types.StringValue(plan.targetPool() + "/" + plan.TargetImage.ValueString())
	plan.Snapshot = types.StringValue(res.Snapshot)
	plan.BackupID = types.StringNull()
	if id, _, ok := chain.ParseSnapshotName(res.Snapshot); ok {
		plan.BackupID = types.StringValue(id)
	}
	plan.Size = types.Int64Value(int64(res.Size))
	plan.WrittenBytes = types.Int64Value(int64(res.WrittenBytes))
	plan.ClusterFSID = types.StringNull()
	if fsid, err := r.engine.SourceCluster.FSID(ctx); err == nil {
		plan.ClusterFSID = types.StringValue(fsid)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// Read forgets a rebuilt image that was removed, so the next apply rebuilds it.
func (r *restoreFromDiffFilesResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state restoreFromDiffFilesModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel, ok := withTimeout(ctx, state.Timeouts.Read, fromFilesTimeouts.read, &resp.Diagnostics)
	if !ok {
		return
	}
	defer cancel()
	forgetIfGone(ctx, r.engine, state.ClusterFSID, state.targetPool(), state.TargetImage.ValueString(), "the rebuilt image", resp)
}

func (r *restoreFromDiffFilesResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	updateTimeoutsOnly(ctx, req, resp)
}

// Delete leaves the image: it holds user data.
func (r *restoreFromDiffFilesResource) Delete(context.Context, resource.DeleteRequest, *resource.DeleteResponse) {
}

// targetPool is the pool path of the rebuilt image.
func (m restoreFromDiffFilesModel) targetPool() string {
	return poolPath(m.TargetPool, m.TargetNamespace)
}
