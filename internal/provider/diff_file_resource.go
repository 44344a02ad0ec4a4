package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/cephconn"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/difffile"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
)

var (
	_ resource.ResourceWithConfigure   = &diffFileResource{}
	_ resource.ResourceWithModifyPlan  = &diffFileResource{}
	_ resource.ResourceWithImportState = &diffFileResource{}
)

// NewDiffFileResource is cephbackup_diff_file.
func NewDiffFileResource() resource.Resource { return &diffFileResource{} }

type diffFileResource struct {
	engine *engine.Engine
}

type diffFileModel struct {
	ID              types.String   `tfsdk:"id"`
	BackupID        types.String   `tfsdk:"backup_id"`
	FromBackupID    types.String   `tfsdk:"from_backup_id"`
	Pool            types.String   `tfsdk:"pool"`
	Namespace       types.String   `tfsdk:"namespace"`
	Image           types.String   `tfsdk:"image"`
	BackupPool      types.String   `tfsdk:"backup_pool"`
	BackupNamespace types.String   `tfsdk:"backup_namespace"`
	Path            types.String   `tfsdk:"path"`
	Size            types.Int64    `tfsdk:"size"`
	DataBytes       types.Int64    `tfsdk:"data_bytes"`
	SHA256          types.String   `tfsdk:"sha256"`
	Timeouts        timeouts.Value `tfsdk:"timeouts"`
}

func (r *diffFileResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_diff_file"
}

func (r *diffFileResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.engine = engineFrom(req.ProviderData, &resp.Diagnostics)
}

func (r *diffFileResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Writes a restore point to a local file in the rbd diff format (v1, as `rbd export-diff` writes it), " +
			"for copies outside Ceph: the whole restore point, or only the changes since an older one. `rbd import-diff FILE pool/image` " +
			"applies it (files of a chain in order). Reads only the backup cluster. Destroying the resource deletes the file.",
		Attributes: map[string]schema.Attribute{
			"id": computedString("The file's path."),
			"backup_id": schema.StringAttribute{Required: true, MarkdownDescription: "The restore point to write.",
				Validators: []validator.String{backupIDValidator}, PlanModifiers: replace},
			"from_backup_id": schema.StringAttribute{Optional: true,
				MarkdownDescription: "An older restore point of the same backup image: write only the changes since it (`rbd export-diff --from-snap`).",
				Validators:          []validator.String{backupIDValidator}, PlanModifiers: replace},
			"pool":             requiredName("Pool of the backed-up image on the source."),
			"image":            requiredName("The backed-up image."),
			"backup_pool":      requiredName("Pool on the backup cluster that holds the backups."),
			"namespace":        namespaceAttr("RADOS namespace of `pool` the backed-up image is in; default: the pool's default namespace."),
			"backup_namespace": backupNamespaceAttr(),
			"path": schema.StringAttribute{Required: true, PlanModifiers: replace,
				MarkdownDescription: "Where to write the file. Written to a temporary file in the same directory and renamed when complete, so an interrupted write never leaves a partial file here."},
			"size":       computedInt64("Size of the file in bytes."),
			"data_bytes": computedInt64("Bytes of image data the file carries (zeroed ranges take no room)."),
			"sha256":     computedString("sha256 of the file."),
		},
		Blocks: map[string]schema.Block{"timeouts": fileTimeouts.block(ctx)},
	}
}

func (r *diffFileResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan diffFileModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel, ok := withTimeout(ctx, plan.Timeouts.Create, defaultCreateTimeout, &resp.Diagnostics)
	if !ok {
		return
	}
	defer cancel()

	file := plan.Path.ValueString()
	export := exportRequest(plan)
	to, from, err := r.snapshots(ctx, export)
	if err == nil {
		// Checked again here: the plan may have been made before the file appeared.
		err = difffile.CheckOverwrite(file, to, from)
	}
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("path"), "Cannot write the diff file", err.Error())
		return
	}
	var res engine.ExportResult
	size, sum, err := difffile.Write(file, func(w io.Writer) error {
		res, err = r.engine.ExportDiff(ctx, export, w)
		return err
	})
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("path"), "Cannot write the diff file", err.Error())
		return
	}
	plan.ID = types.StringValue(file)
	plan.Size = types.Int64Value(size)
	plan.DataBytes = types.Int64Value(int64(res.DataBytes))
	plan.SHA256 = types.StringValue(sum)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func exportRequest(m diffFileModel) engine.ExportRequest {
	return engine.ExportRequest{
		BackupID: m.BackupID.ValueString(), FromID: m.FromBackupID.ValueString(),
		Pool: poolPath(m.Pool, m.Namespace), Image: m.Image.ValueString(),
		BackupPool: cephconn.PoolPath(m.BackupPool.ValueString(), backupNamespace(m.Namespace, m.BackupNamespace)),
	}
}

// snapshots returns the restore points' snapshot names a file of req starts
// from and ends at (from is "" for a whole restore point), checking that both
// are restore points of the image and that from is the older.
func (r *diffFileResource) snapshots(ctx context.Context, req engine.ExportRequest) (to, from string, err error) {
	rec, err := r.engine.GetBackup(ctx, req.BackupPool, req.Image, req.BackupID)
	if errors.Is(err, engine.ErrGone) {
		return "", "", fmt.Errorf("backup %s is not a restore point of %s/%s in pool %s", req.BackupID, req.Pool, req.Image, req.BackupPool)
	}
	if err != nil || req.FromID == "" {
		return rec.Snapshot, "", err
	}
	older, err := r.engine.GetBackup(ctx, req.BackupPool, req.Image, req.FromID)
	if errors.Is(err, engine.ErrGone) {
		return "", "", fmt.Errorf("from_backup_id %s is not a restore point of %s/%s in pool %s", req.FromID, req.Pool, req.Image, req.BackupPool)
	}
	if err != nil {
		return "", "", err
	}
	if !older.CreatedAt.Before(rec.CreatedAt) {
		return "", "", fmt.Errorf("from_backup_id %s is not older than backup %s: a diff goes from an older restore point to a newer one", req.FromID, req.BackupID)
	}
	return rec.Snapshot, older.Snapshot, nil
}

// ModifyPlan checks, before anything is written, what a create or replace
// would otherwise find out during the apply: that the restore points exist,
// the directory exists, and no file of somebody else's is at path.
func (r *diffFileResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || r.engine == nil {
		return
	}
	if !req.State.Raw.IsNull() && len(resp.RequiresReplace) == 0 {
		return // only timeouts change in place: nothing is written
	}
	var plan, state diffFileModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if !req.State.Raw.IsNull() {
		resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	}
	if resp.Diagnostics.HasError() || plan.Path.IsUnknown() {
		return
	}
	file := plan.Path.ValueString()
	if st, err := os.Stat(filepath.Dir(file)); err != nil || !st.IsDir() {
		resp.Diagnostics.AddAttributeError(path.Root("path"), "Directory of the diff file does not exist",
			fmt.Sprintf("%s is not a directory on the machine running Terraform; the provider does not create directories. Create it, or choose another path.", filepath.Dir(file)))
		return
	}
	for _, v := range []types.String{plan.BackupID, plan.FromBackupID, plan.Pool, plan.Namespace, plan.Image, plan.BackupPool, plan.BackupNamespace} {
		if v.IsUnknown() {
			return // checked again at apply, before anything is written
		}
	}
	to, from, err := r.snapshots(ctx, exportRequest(plan))
	if err != nil {
		attr := "backup_id"
		if strings.HasPrefix(err.Error(), "from_backup_id") {
			attr = "from_backup_id"
		}
		resp.Diagnostics.AddAttributeError(path.Root(attr), "Cannot write this restore point to a file", err.Error())
		return
	}
	if state.Path.ValueString() == file {
		return // the file this resource wrote, replaced: destroy removes it first
	}
	if err := difffile.CheckOverwrite(file, to, from); err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("path"), "Refusing to overwrite a file", err.Error())
	}
}

// ImportState takes <backup_pool>:<path> (<backup_pool>/<backup_namespace>:<path>
// in a namespace): the file names its restore points,
// the backup cluster says the rest.
func (r *diffFileResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	backupPool, file, ok := strings.Cut(req.ID, ":")
	if !ok || chain.ValidatePoolPath("backup_pool", backupPool) != nil || !filepath.IsAbs(file) {
		resp.Diagnostics.AddError("Invalid import id",
			fmt.Sprintf("%q is not <backup_pool>:<absolute path of the file> (or <backup_pool>/<backup_namespace>:<path>). Example: terraform import cephbackup_diff_file.name backups:/srv/offsite/volume-1234/weekly.diff", req.ID))
		return
	}
	info, err := difffile.Inspect(file)
	if err != nil {
		resp.Diagnostics.AddError("Cannot import the diff file", err.Error())
		return
	}
	id, _, ok := chain.ParseSnapshotName(info.Header.ToSnap)
	if !ok {
		resp.Diagnostics.AddError("Cannot import the diff file",
			fmt.Sprintf("%s ends at snapshot %q, which is not a restore point of this provider (backup.<id>.snap.<time>); only files of restore points can be imported.", file, info.Header.ToSnap))
		return
	}
	rec, err := r.engine.FindBackup(ctx, backupPool, id)
	if err != nil {
		resp.Diagnostics.AddError("Cannot import the diff file", fmt.Sprintf("%s is a file of backup %s: %v", file, id, err))
		return
	}
	m := diffFileModel{
		ID: types.StringValue(file), BackupID: types.StringValue(id), FromBackupID: types.StringNull(),
		Image: types.StringValue(rec.Image),
		Path:  types.StringValue(file), Size: types.Int64Value(info.Size), DataBytes: types.Int64Value(int64(info.DataBytes)),
		SHA256: types.StringValue(info.SHA256),
	}
	setPoolPath(rec.Pool, &m.Pool, &m.Namespace)
	setBackupPoolPath(backupPool, m.Namespace, &m.BackupPool, &m.BackupNamespace)
	if info.Header.HasFromSnap {
		fromID, _, ok := chain.ParseSnapshotName(info.Header.FromSnap)
		if !ok {
			resp.Diagnostics.AddError("Cannot import the diff file",
				fmt.Sprintf("%s starts at snapshot %q, which is not a restore point of this provider.", file, info.Header.FromSnap))
			return
		}
		m.FromBackupID = types.StringValue(fromID)
	}
	to, from, err := r.snapshots(ctx, exportRequest(m))
	if err == nil && (to != info.Header.ToSnap || from != info.Header.FromSnap) {
		err = fmt.Errorf("the backup cluster's restore points are %q and %q, the file names %q and %q", from, to, info.Header.FromSnap, info.Header.ToSnap)
	}
	if err != nil {
		resp.Diagnostics.AddError("Cannot import the diff file", err.Error())
		return
	}
	m.Timeouts = fileTimeouts.null()
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *diffFileResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state diffFileModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel, ok := withTimeout(ctx, state.Timeouts.Read, fileTimeouts.read, &resp.Diagnostics)
	if !ok {
		return
	}
	defer cancel()
	file := state.Path.ValueString()
	size, sum, err := difffile.Fingerprint(ctx, file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		resp.State.RemoveResource(ctx)
	case err != nil:
		resp.Diagnostics.AddAttributeError(path.Root("path"), "Cannot read the diff file", err.Error())
	case size != state.Size.ValueInt64() || sum != state.SHA256.ValueString():
		resp.Diagnostics.AddAttributeWarning(path.Root("path"), "Diff file changed since it was written",
			fmt.Sprintf("%s has %d bytes with sha256 %s; the provider wrote %d bytes with sha256 %s. It will be written again.",
				file, size, sum, state.Size.ValueInt64(), state.SHA256.ValueString()))
		resp.State.RemoveResource(ctx)
	}
}

func (r *diffFileResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	updateTimeoutsOnly(ctx, req, resp)
	// Set to the namespace it defaulted to: the same file, nothing to do.
	var backupNs types.String
	resp.Diagnostics.Append(req.Plan.GetAttribute(ctx, path.Root("backup_namespace"), &backupNs)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("backup_namespace"), backupNs)...)
}

func (r *diffFileResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state diffFileModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := os.Remove(state.Path.ValueString()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		resp.Diagnostics.AddError("Cannot delete the diff file", err.Error())
	}
}
