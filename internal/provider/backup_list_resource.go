package provider

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/list"
	listschema "github.com/hashicorp/terraform-plugin-framework/list/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/identityschema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/cephconn"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
)

// backupIdentity identifies a backup the way import does: the backup pool
// and the backup id (Terraform >= 1.12 resource identity).
type backupIdentity struct {
	BackupPool types.String `tfsdk:"backup_pool"`
	ID         types.String `tfsdk:"id"`
}

func (r *backupResource) IdentitySchema(_ context.Context, _ resource.IdentitySchemaRequest, resp *resource.IdentitySchemaResponse) {
	resp.IdentitySchema = identityschema.Schema{Attributes: map[string]identityschema.Attribute{
		"backup_pool": identityschema.StringAttribute{RequiredForImport: true,
			Description: "Pool on the backup cluster that holds the backup; `<pool>/<namespace>` when the backup is in a RADOS namespace of the pool."},
		"id": identityschema.StringAttribute{RequiredForImport: true, Description: "The backup id."},
	}}
}

func identityOf(backupPool, id string) backupIdentity {
	return backupIdentity{BackupPool: types.StringValue(backupPool), ID: types.StringValue(id)}
}

var _ list.ListResourceWithConfigure = &backupListResource{}

// backupListResource lists the restore points of one kind that a backup
// pool holds, for `terraform query` (Terraform >= 1.14): what another
// workspace, a killed apply or a lost state left there, with the import
// blocks `-generate-config-out` writes for them.
type backupListResource struct {
	kind   chain.Kind
	engine *engine.Engine
}

// NewFullListResource is the list resource of cephbackup_full.
func NewFullListResource() list.ListResource { return &backupListResource{kind: chain.Full} }

// NewIncrementalListResource is the list resource of cephbackup_incremental.
func NewIncrementalListResource() list.ListResource {
	return &backupListResource{kind: chain.Incremental}
}

type backupListConfig struct {
	BackupPool      types.String `tfsdk:"backup_pool"`
	BackupNamespace types.String `tfsdk:"backup_namespace"`
	Pool            types.String `tfsdk:"pool"`
	Image           types.String `tfsdk:"image"`
	Labels          types.Map    `tfsdk:"labels"`
}

func (l *backupListResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_" + string(l.kind)
}

func (l *backupListResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	l.engine = engineFrom(req.ProviderData, &resp.Diagnostics)
}

func (l *backupListResource) ListResourceConfigSchema(_ context.Context, _ list.ListResourceSchemaRequest, resp *list.ListResourceSchemaResponse) {
	resp.Schema = listschema.Schema{
		MarkdownDescription: fmt.Sprintf("Lists the %s restore points a backup pool holds, whether or not a Terraform state knows them, "+
			"so that `terraform query -generate-config-out=FILE` writes their resources and import blocks. Reads only the backup cluster.", l.kind),
		Attributes: map[string]listschema.Attribute{
			"backup_pool": listschema.StringAttribute{Required: true, Validators: []validator.String{nameValidator},
				MarkdownDescription: "Pool on the backup cluster that holds the backups."},
			"pool": listschema.StringAttribute{Optional: true, Validators: []validator.String{nameValidator},
				MarkdownDescription: "Only backups of images of this source pool."},
			"backup_namespace": listschema.StringAttribute{Optional: true, Validators: []validator.String{namespaceValidator},
				MarkdownDescription: "RADOS namespace of `backup_pool` to list; default: the pool's default namespace."},
			"image": listschema.StringAttribute{Optional: true, Validators: []validator.String{nameValidator},
				MarkdownDescription: "Only backups of this image."},
			"labels": listschema.MapAttribute{Optional: true, ElementType: types.StringType,
				MarkdownDescription: "Only backups with every one of these labels."},
		},
	}
}

func (l *backupListResource) List(ctx context.Context, req list.ListRequest, stream *list.ListResultsStream) {
	var cfg backupListConfig
	if diags := req.Config.Get(ctx, &cfg); diags.HasError() {
		stream.Results = list.ListResultsStreamDiagnostics(diags)
		return
	}
	filter := chain.Filter{Kind: l.kind}
	if diags := cfg.Labels.ElementsAs(ctx, &filter.Labels, false); diags.HasError() {
		stream.Results = list.ListResultsStreamDiagnostics(diags)
		return
	}
	backupPool := poolPath(cfg.BackupPool, cfg.BackupNamespace)
	images, err := l.engine.Catalogue(ctx, backupPool)
	if err != nil {
		var diags diag.Diagnostics
		diags.AddError("Cannot list the backups of pool "+backupPool, err.Error())
		stream.Results = list.ListResultsStreamDiagnostics(diags)
		return
	}
	stream.Results = func(push func(list.ListResult) bool) {
		var sent int64
		for _, img := range images {
			for _, rec := range filter.Select(img.RestorePoints) {
				if pool, _ := cephconn.SplitPoolPath(rec.Pool); !cfg.Pool.IsNull() && pool != cfg.Pool.ValueString() || !cfg.Image.IsNull() && rec.Image != cfg.Image.ValueString() {
					continue
				}
				if req.Limit > 0 && sent >= req.Limit {
					return
				}
				sent++
				if !push(l.result(ctx, req, backupPool, rec)) {
					return
				}
			}
		}
	}
}

func (l *backupListResource) result(ctx context.Context, req list.ListRequest, backupPool string, rec chain.Record) list.ListResult {
	res := req.NewListResult(ctx)
	res.DisplayName = fmt.Sprintf("%s/%s %s backup of %s (%s)", rec.Pool, rec.Image, rec.Kind, rec.CreatedAt.UTC().Format(time.RFC3339), rec.ID)
	res.Diagnostics.Append(res.Identity.Set(ctx, identityOf(backupPool, rec.ID))...)
	if req.IncludeResource {
		var m backupModel
		m.Timeouts = backupTimeouts.null()
		m.fromRecord(rec, backupPool)
		m.BackupClusterFSID = types.StringNull()
		if fsid, err := l.engine.BackupCluster.FSID(ctx); err == nil {
			m.BackupClusterFSID = types.StringValue(fsid)
		}
		res.Diagnostics.Append(writeBackupModel(ctx, res.Resource.Set, l.kind, &m)...)
	}
	return res
}
