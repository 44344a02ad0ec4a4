package provider

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/cephconn"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
)

var _ datasource.DataSourceWithConfigure = &restorePointsDataSource{}

// NewRestorePointsDataSource is data.cephbackup_restore_points.
func NewRestorePointsDataSource() datasource.DataSource { return &restorePointsDataSource{} }

type restorePointsDataSource struct {
	engine *engine.Engine
}

type restorePointsModel struct {
	Pool            types.String        `tfsdk:"pool"`
	Namespace       types.String        `tfsdk:"namespace"`
	Image           types.String        `tfsdk:"image"`
	BackupPool      types.String        `tfsdk:"backup_pool"`
	BackupNamespace types.String        `tfsdk:"backup_namespace"`
	Labels          types.Map           `tfsdk:"labels"`
	Kind            types.String        `tfsdk:"kind"`
	CreatedAfter    types.String        `tfsdk:"created_after"`
	CreatedBefore   types.String        `tfsdk:"created_before"`
	MostRecent      types.Bool          `tfsdk:"most_recent"`
	RestorePoints   []restorePointModel `tfsdk:"restore_points"`
	RestorePoint    *restorePointModel  `tfsdk:"restore_point"`
}

type restorePointModel struct {
	ID               types.String `tfsdk:"id"`
	ParentID         types.String `tfsdk:"parent_id"`
	Kind             types.String `tfsdk:"kind"`
	Snapshot         types.String `tfsdk:"snapshot"`
	CreatedAt        types.String `tfsdk:"created_at"`
	Size             types.Int64  `tfsdk:"size"`
	TransferredBytes types.Int64  `tfsdk:"transferred_bytes"`
	SHA256           types.String `tfsdk:"sha256"`
	Verified         types.Bool   `tfsdk:"verified"`
	Labels           types.Map    `tfsdk:"labels"`
}

func (d *restorePointsDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_restore_points"
}

func (d *restorePointsDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.engine = engineFrom(req.ProviderData, &resp.Diagnostics)
}

func restorePointAttributes() map[string]schema.Attribute {
	computed := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Computed: true, MarkdownDescription: desc}
	}
	return map[string]schema.Attribute{
		"id":                computed("Backup id."),
		"parent_id":         computed("Id of the parent backup; null for a full backup."),
		"kind":              computed("`full` or `incremental`."),
		"snapshot":          computed("Snapshot name of the restore point on the backup image."),
		"created_at":        computed("When the backup was taken (RFC 3339)."),
		"size":              schema.Int64Attribute{Computed: true, MarkdownDescription: "Image size in bytes at the restore point."},
		"transferred_bytes": schema.Int64Attribute{Computed: true, MarkdownDescription: "Bytes the backup copied into the backup image."},
		"sha256":            computed("sha256 of the restore point's content when the backup was verified; null otherwise."),
		"verified":          schema.BoolAttribute{Computed: true, MarkdownDescription: "Whether the backup was verified against its source snapshot (`verify = true`), its checksum recorded."},
		"labels":            schema.MapAttribute{Computed: true, ElementType: types.StringType, MarkdownDescription: "The backup's labels."},
	}
}

func (d *restorePointsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	name := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Required: true, MarkdownDescription: desc, Validators: []validator.String{nameValidator}}
	}
	timeFilter := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Optional: true, MarkdownDescription: desc, Validators: []validator.String{rfc3339Validator}}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Lists the restore points of an image recorded on the backup cluster, oldest first, including backups made " +
			"outside this configuration, optionally filtered by labels, kind and time. Reads only the backup cluster, so it works " +
			"while the source cluster is down.",
		Attributes: map[string]schema.Attribute{
			"pool":             name("Pool of the backed-up image on the source."),
			"image":            name("The backed-up image."),
			"backup_pool":      name("Pool on the backup cluster that holds the backups."),
			"namespace":        dataSourceNamespaceAttr("RADOS namespace of `pool` the image is in; default: the pool's default namespace.", namespaceValidator),
			"backup_namespace": dataSourceNamespaceAttr(backupNamespaceDocs, inheritedNamespaceValidator),
			"labels": schema.MapAttribute{Optional: true, ElementType: types.StringType,
				MarkdownDescription: "Only restore points whose backup has every one of these labels, with these values."},
			"kind": schema.StringAttribute{Optional: true, MarkdownDescription: "Only `full` or only `incremental` restore points.",
				Validators: []validator.String{stringvalidator.OneOf(string(chain.Full), string(chain.Incremental))}},
			"created_after":  timeFilter("Only restore points taken strictly after this time (RFC 3339, e.g. `2026-11-01T00:00:00Z`)."),
			"created_before": timeFilter("Only restore points taken strictly before this time (RFC 3339)."),
			"most_recent": schema.BoolAttribute{Optional: true,
				MarkdownDescription: "Set `restore_point` to the newest matching restore point; the read fails when none matches, " +
					"so nothing is ever restored from an empty selection."},
			"restore_points": schema.ListNestedAttribute{Computed: true,
				MarkdownDescription: "The matching restore points, oldest first; empty when there is none.",
				NestedObject:        schema.NestedAttributeObject{Attributes: restorePointAttributes()}},
			"restore_point": schema.SingleNestedAttribute{Computed: true, Attributes: restorePointAttributes(),
				MarkdownDescription: "With `most_recent = true`, the newest matching restore point; null otherwise."},
		},
	}
}

func (d *restorePointsDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m restorePointsModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	filter := chain.Filter{Kind: chain.Kind(m.Kind.ValueString())}
	resp.Diagnostics.Append(m.Labels.ElementsAs(ctx, &filter.Labels, false)...)
	filter.CreatedAfter, _ = time.Parse(time.RFC3339, m.CreatedAfter.ValueString())
	filter.CreatedBefore, _ = time.Parse(time.RFC3339, m.CreatedBefore.ValueString())
	if resp.Diagnostics.HasError() {
		return
	}
	pool := poolPath(m.Pool, m.Namespace)
	backupPool := cephconn.PoolPath(m.BackupPool.ValueString(), backupNamespace(m.Namespace, m.BackupNamespace))
	records, err := d.engine.RestorePoints(ctx, pool, m.Image.ValueString(), backupPool)
	if err != nil {
		resp.Diagnostics.AddError("Cannot list restore points", err.Error())
		return
	}
	selected := filter.Select(records)
	m.RestorePoints = make([]restorePointModel, 0, len(selected))
	for _, r := range selected {
		m.RestorePoints = append(m.RestorePoints, restorePointFrom(r))
	}
	if m.MostRecent.ValueBool() {
		if len(m.RestorePoints) == 0 {
			resp.Diagnostics.AddAttributeError(path.Root("most_recent"), "No restore point matches",
				fmt.Sprintf("%s/%s has %d restore point(s) in %s, none of them %s. Loosen the filters, or drop most_recent to get an empty list instead.",
					pool, m.Image.ValueString(), len(records), backupPool, describeFilter(filter)))
			return
		}
		m.RestorePoint = &m.RestorePoints[len(m.RestorePoints)-1]
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func restorePointFrom(r chain.Record) restorePointModel {
	p := restorePointModel{
		ID: types.StringValue(r.ID), ParentID: types.StringNull(), Kind: types.StringValue(string(r.Kind)),
		Snapshot: types.StringValue(r.Snapshot), CreatedAt: types.StringValue(r.CreatedAt.UTC().Format(time.RFC3339)),
		Size: types.Int64Value(int64(r.Size)), TransferredBytes: types.Int64Value(int64(r.TransferredBytes)),
		SHA256: types.StringNull(), Verified: types.BoolValue(r.SHA256 != ""), Labels: labelsValue(r.Labels),
	}
	if r.SHA256 != "" {
		p.SHA256 = types.StringValue(r.SHA256)
	}
	if r.ParentID != "" {
		p.ParentID = types.StringValue(r.ParentID)
	}
	return p
}

// labelsValue is a record's labels as a map value, empty rather than null so
// that lookups in configurations need no null check.
func labelsValue(labels map[string]string) types.Map {
	elems := make(map[string]attr.Value, len(labels))
	for k, v := range labels {
		elems[k] = types.StringValue(v)
	}
	return types.MapValueMust(types.StringType, elems)
}

func describeFilter(f chain.Filter) string {
	var parts []string
	if f.Kind != "" {
		parts = append(parts, "of kind "+string(f.Kind))
	}
	if len(f.Labels) > 0 {
		keys := make([]string, 0, len(f.Labels))
		for k := range f.Labels {
			keys = append(keys, k+"="+f.Labels[k])
		}
		sort.Strings(keys)
		parts = append(parts, "labelled "+strings.Join(keys, ", "))
	}
	if !f.CreatedAfter.IsZero() {
		parts = append(parts, "taken after "+f.CreatedAfter.Format(time.RFC3339))
	}
	if !f.CreatedBefore.IsZero() {
		parts = append(parts, "taken before "+f.CreatedBefore.Format(time.RFC3339))
	}
	if len(parts) == 0 {
		return "matching (there is none at all)"
	}
	return strings.Join(parts, " and ")
}
