package provider

import (
	"context"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/cephconn"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
)

var _ datasource.DataSourceWithConfigure = &backedUpImagesDataSource{}

// NewBackedUpImagesDataSource is data.cephbackup_backed_up_images.
func NewBackedUpImagesDataSource() datasource.DataSource { return &backedUpImagesDataSource{} }

type backedUpImagesDataSource struct {
	engine *engine.Engine
}

type backedUpImagesModel struct {
	BackupPool      types.String         `tfsdk:"backup_pool"`
	BackupNamespace types.String         `tfsdk:"backup_namespace"`
	Pool            types.String         `tfsdk:"pool"`
	Namespace       types.String         `tfsdk:"namespace"`
	Images          []backedUpImageModel `tfsdk:"images"`
}

type backedUpImageModel struct {
	Pool             types.String `tfsdk:"pool"`
	Namespace        types.String `tfsdk:"namespace"`
	Image            types.String `tfsdk:"image"`
	SourceFSID       types.String `tfsdk:"source_fsid"`
	BackupImage      types.String `tfsdk:"backup_image"`
	RestorePoints    types.Int64  `tfsdk:"restore_points"`
	Fulls            types.Int64  `tfsdk:"fulls"`
	Incrementals     types.Int64  `tfsdk:"incrementals"`
	NewestID         types.String `tfsdk:"newest_id"`
	NewestCreatedAt  types.String `tfsdk:"newest_created_at"`
	Size             types.Int64  `tfsdk:"size"`
	TransferredBytes types.Int64  `tfsdk:"transferred_bytes"`
}

func (d *backedUpImagesDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_backed_up_images"
}

func (d *backedUpImagesDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.engine = engineFrom(req.ProviderData, &resp.Diagnostics)
}

func (d *backedUpImagesDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	str := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Computed: true, MarkdownDescription: desc}
	}
	num := func(desc string) schema.Int64Attribute {
		return schema.Int64Attribute{Computed: true, MarkdownDescription: desc}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Lists every image that has backups in a backup pool, with counts, its newest restore point and sizes: " +
			"a disaster-recovery plan can restore a whole pool from it without listing images by hand. Reads only the backup cluster.",
		Attributes: map[string]schema.Attribute{
			"backup_pool": schema.StringAttribute{Required: true, Validators: []validator.String{nameValidator},
				MarkdownDescription: "Pool on the backup cluster that holds the backups."},
			"pool": schema.StringAttribute{Optional: true, Validators: []validator.String{nameValidator},
				MarkdownDescription: "Only images of this source pool."},
			"backup_namespace": dataSourceNamespaceAttr("RADOS namespace of `backup_pool` to list; default: the pool's default namespace.", namespaceValidator),
			"namespace": schema.StringAttribute{Optional: true, Validators: []validator.String{inheritedNamespaceValidator},
				MarkdownDescription: "Only images of this RADOS namespace of their source pool (`\"\"`: only images in a pool's default namespace)."},
			"images": schema.ListNestedAttribute{Computed: true,
				MarkdownDescription: "One entry per backup image, by image name; images with no restore point left are listed with `restore_points = 0`.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"pool":              str("Source pool of the image the backup image belongs to now."),
					"namespace":         str("RADOS namespace of the source image in its pool; null for the pool's default namespace."),
					"image":             str("The backed-up image."),
					"source_fsid":       str("fsid of the image's cluster."),
					"backup_image":      str("The backup image, `<image>.backup.base`."),
					"restore_points":    num("Number of restore points."),
					"fulls":             num("Number of full restore points."),
					"incrementals":      num("Number of incremental restore points."),
					"newest_id":         str("Id of the newest restore point; null when there is none."),
					"newest_created_at": str("When the newest restore point was taken (RFC 3339); null when there is none."),
					"size":              num("Provisioned size of the backup image in bytes."),
					"transferred_bytes": num("Bytes the restore points copied into the backup image, together: what the backups wrote."),
				}}},
		},
	}
}

func (d *backedUpImagesDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m backedUpImagesModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	all, err := d.engine.Catalogue(ctx, poolPath(m.BackupPool, m.BackupNamespace))
	if err != nil {
		resp.Diagnostics.AddError("Cannot list the backed-up images", err.Error())
		return
	}
	m.Images = make([]backedUpImageModel, 0, len(all))
	for _, b := range all {
		pool, namespace := cephconn.SplitPoolPath(b.Source.Pool)
		if !m.Pool.IsNull() && pool != m.Pool.ValueString() || !m.Namespace.IsNull() && namespace != m.Namespace.ValueString() {
			continue
		}
		m.Images = append(m.Images, backedUpImageFrom(b))
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func backedUpImageFrom(b engine.BackedUpImage) backedUpImageModel {
	out := backedUpImageModel{
		Image: types.StringValue(b.Source.Image), SourceFSID: types.StringValue(b.Source.FSID),
		BackupImage: types.StringValue(b.BackupImage), RestorePoints: types.Int64Value(int64(len(b.RestorePoints))),
		NewestID: types.StringNull(), NewestCreatedAt: types.StringNull(), Size: types.Int64Value(int64(b.Size)),
	}
	setPoolPath(b.Source.Pool, &out.Pool, &out.Namespace)
	var fulls, transferred int64
	for _, r := range b.RestorePoints {
		if r.Kind == chain.Full {
			fulls++
		}
		transferred += int64(r.TransferredBytes)
	}
	out.Fulls = types.Int64Value(fulls)
	out.Incrementals = types.Int64Value(int64(len(b.RestorePoints)) - fulls)
	out.TransferredBytes = types.Int64Value(transferred)
	if n := len(b.RestorePoints); n > 0 {
		newest := b.RestorePoints[n-1]
		out.NewestID = types.StringValue(newest.ID)
		out.NewestCreatedAt = types.StringValue(newest.CreatedAt.UTC().Format(time.RFC3339))
	}
	return out
}
