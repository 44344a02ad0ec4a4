package provider

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
)

var _ resource.ResourceWithConfigure = &diffFileResource{}

// NewDiffFileResource is cephbackup_diff_file.
func NewDiffFileResource() resource.Resource { return &diffFileResource{} }

type diffFileResource struct {
	engine *engine.Engine
}

type diffFileModel struct {
	ID           types.String   `tfsdk:"id"`
	BackupID     types.String   `tfsdk:"backup_id"`
	FromBackupID types.String   `tfsdk:"from_backup_id"`
	Pool         types.String   `tfsdk:"pool"`
	Image        types.String   `tfsdk:"image"`
	BackupPool   types.String   `tfsdk:"backup_pool"`
	Path         types.String   `tfsdk:"path"`
	Size         types.Int64    `tfsdk:"size"`
	DataBytes    types.Int64    `tfsdk:"data_bytes"`
	SHA256       types.String   `tfsdk:"sha256"`
	Timeouts     timeouts.Value `tfsdk:"timeouts"`
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
				Validators: []validatorString{backupIDValidator{}}, PlanModifiers: replace},
			"from_backup_id": schema.StringAttribute{Optional: true,
				MarkdownDescription: "An older restore point of the same backup image: write only the changes since it (`rbd export-diff --from-snap`).",
				Validators:          []validatorString{backupIDValidator{}}, PlanModifiers: replace},
			"pool":        requiredName("Pool of the backed-up image on the source."),
			"image":       requiredName("The backed-up image."),
			"backup_pool": requiredName("Pool on the backup cluster that holds the backups."),
			"path": schema.StringAttribute{Required: true, PlanModifiers: replace,
				MarkdownDescription: "Where to write the file. Written to a temporary file in the same directory and renamed when complete, so an interrupted write never leaves a partial file here."},
			"size":       computedInt64("Size of the file in bytes."),
			"data_bytes": computedInt64("Bytes of image data the file carries (zeroed ranges take no room)."),
			"sha256":     computedString("sha256 of the file."),
		},
		Blocks: map[string]schema.Block{"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true})},
	}
}

func (r *diffFileResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan diffFileModel
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

	file := plan.Path.ValueString()
	res, size, sum, err := r.write(ctx, file, engine.ExportRequest{
		BackupID: plan.BackupID.ValueString(), FromID: plan.FromBackupID.ValueString(),
		Pool: plan.Pool.ValueString(), Image: plan.Image.ValueString(), BackupPool: plan.BackupPool.ValueString(),
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

// write exports into a temporary file beside path and renames it into place.
func (r *diffFileResource) write(ctx context.Context, path string, req engine.ExportRequest) (engine.ExportResult, int64, string, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-*")
	if err != nil {
		return engine.ExportResult{}, 0, "", err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	h := sha256.New()
	counter := &countingWriter{w: io.MultiWriter(tmp, h)}
	res, err := r.engine.ExportDiff(ctx, req, counter)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return res, 0, "", err
	}
	return res, counter.n, hex.EncodeToString(h.Sum(nil)), nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func (r *diffFileResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state diffFileModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if _, err := os.Stat(state.Path.ValueString()); errors.Is(err, fs.ErrNotExist) {
		resp.State.RemoveResource(ctx)
	} else if err != nil {
		resp.Diagnostics.AddError("Cannot read the diff file", err.Error())
	}
}

func (r *diffFileResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	// Only timeouts change in place.
	var plan, state diffFileModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	state.Timeouts = plan.Timeouts
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
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
