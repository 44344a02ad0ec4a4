package provider

import (
	"context"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
)

var _ datasource.DataSourceWithConfigure = &restorePointsDataSource{}

// NewRestorePointsDataSource is data.cephbackup_restore_points.
func NewRestorePointsDataSource() datasource.DataSource { return &restorePointsDataSource{} }

type restorePointsDataSource struct {
	engine *engine.Engine
}

type restorePointsModel struct {
	Pool          types.String        `tfsdk:"pool"`
	Image         types.String        `tfsdk:"image"`
	BackupPool    types.String        `tfsdk:"backup_pool"`
	RestorePoints []restorePointModel `tfsdk:"restore_points"`
}

type restorePointModel struct {
	ID        types.String `tfsdk:"id"`
	ParentID  types.String `tfsdk:"parent_id"`
	Kind      types.String `tfsdk:"kind"`
	Snapshot  types.String `tfsdk:"snapshot"`
	CreatedAt types.String `tfsdk:"created_at"`
	Size      types.Int64  `tfsdk:"size"`
	SHA256    types.String `tfsdk:"sha256"`
}

func (d *restorePointsDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_restore_points"
}

func (d *restorePointsDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.engine = engineFrom(req.ProviderData, &resp.Diagnostics)
}

func (d *restorePointsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	name := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Required: true, MarkdownDescription: desc, Validators: []validatorString{nameValidator{}}}
	}
	computed := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Computed: true, MarkdownDescription: desc}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Lists the restore points of an image recorded on the backup cluster, oldest first, including backups made " +
			"outside this configuration. Reads only the backup cluster, so it works while the source cluster is down.",
		Attributes: map[string]schema.Attribute{
			"pool":        name("Pool of the backed-up image on the source."),
			"image":       name("The backed-up image."),
			"backup_pool": name("Pool on the backup cluster that holds the backups."),
			"restore_points": schema.ListNestedAttribute{Computed: true,
				MarkdownDescription: "The restore points, oldest first; empty when the image was never backed up.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"id":         computed("Backup id."),
					"parent_id":  computed("Id of the parent backup; null for a full backup."),
					"kind":       computed("`full` or `incremental`."),
					"snapshot":   computed("Snapshot name of the restore point on the backup image."),
					"created_at": computed("When the backup was taken (RFC 3339)."),
					"size":       schema.Int64Attribute{Computed: true, MarkdownDescription: "Image size in bytes at the restore point."},
					"sha256":     computed("sha256 of the restore point's content when the backup was verified; null otherwise."),
				}}},
		},
	}
}

func (d *restorePointsDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m restorePointsModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	records, err := d.engine.RestorePoints(ctx, m.Pool.ValueString(), m.Image.ValueString(), m.BackupPool.ValueString())
	if err != nil {
		resp.Diagnostics.AddError("Cannot list restore points", err.Error())
		return
	}
	m.RestorePoints = make([]restorePointModel, 0, len(records))
	for _, r := range records {
		p := restorePointModel{
			ID: types.StringValue(r.ID), ParentID: types.StringNull(), Kind: types.StringValue(string(r.Kind)),
			Snapshot: types.StringValue(r.Snapshot), CreatedAt: types.StringValue(r.CreatedAt.UTC().Format(time.RFC3339)),
			Size: types.Int64Value(int64(r.Size)), SHA256: types.StringNull(),
		}
		if r.SHA256 != "" {
			p.SHA256 = types.StringValue(r.SHA256)
		}
		if r.ParentID != "" {
			p.ParentID = types.StringValue(r.ParentID)
		}
		m.RestorePoints = append(m.RestorePoints, p)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
