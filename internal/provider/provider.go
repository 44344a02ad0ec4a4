// Package provider is the Terraform glue: schemas, plans and diagnostics.
// The work itself is done by internal/engine.
package provider

import (
	"cmp"
	"context"
	"fmt"
	"os"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/action"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/function"
	"github.com/hashicorp/terraform-plugin-framework/list"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/cephconn"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/transfer"
)

var (
	_ provider.Provider                  = &cephbackupProvider{}
	_ provider.ProviderWithActions       = &cephbackupProvider{}
	_ provider.ProviderWithListResources = &cephbackupProvider{}
	_ provider.ProviderWithFunctions     = &cephbackupProvider{}
)

// New returns the provider factory for a version string.
func New(version string) func() provider.Provider {
	return func() provider.Provider { return &cephbackupProvider{version: version, getenv: os.Getenv} }
}

type cephbackupProvider struct {
	version string
	getenv  func(string) string
}

type providerModel struct {
	Cluster        *clusterModel `tfsdk:"cluster"`
	BackupCluster  *clusterModel `tfsdk:"backup_cluster"`
	Parallelism    types.Int64   `tfsdk:"parallelism"`
	MaxInFlightMiB types.Int64   `tfsdk:"max_in_flight_mib"`
	Passphrase     types.String  `tfsdk:"backup_encryption_passphrase"`
}

// passphraseEnv is the environment fallback of backup_encryption_passphrase.
const passphraseEnv = "CEPHBACKUP_BACKUP_ENCRYPTION_PASSPHRASE"

type clusterModel struct {
	ConfigFile types.String `tfsdk:"config_file"`
	MonHost    types.String `tfsdk:"mon_host"`
	User       types.String `tfsdk:"user"`
	Keyring    types.String `tfsdk:"keyring"`
	Key        types.String `tfsdk:"key"`
	Timeout    types.String `tfsdk:"timeout"`
	MsMode     types.String `tfsdk:"ms_mode"`
	Options    types.Map    `tfsdk:"options"`
}

func (p *cephbackupProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "cephbackup"
	resp.Version = p.version
}

func clusterSchema(block string, env cephconn.EnvPrefix) schema.SingleNestedAttribute {
	v := env.Var
	attrs := map[string]schema.Attribute{
		"config_file": schema.StringAttribute{Optional: true, MarkdownDescription: fmt.Sprintf(
			"Path of a `ceph.conf`. Default: `$%s`, else `%s` when it exists.", v("CONF"), cephconn.DefaultConfigFile)},
		"mon_host": schema.StringAttribute{Optional: true, MarkdownDescription: fmt.Sprintf(
			"Monitor addresses, comma-separated (`10.0.0.1,10.0.0.2` or `v2:10.0.0.1:3300`); overrides the file. Default: `$%s`.", v("MON_HOST"))},
		"user": schema.StringAttribute{Optional: true, MarkdownDescription: fmt.Sprintf(
			"cephx id without `client.`. Default: `$%s`, else `admin`, with a warning: the provider needs only `profile rbd` caps (see the getting-started guide).", v("USER"))},
		"keyring": schema.StringAttribute{Optional: true, MarkdownDescription: fmt.Sprintf(
			"Path of a keyring holding the user's key. Default: `$%s`, else what the config file says.", v("KEYRING"))},
		"key": schema.StringAttribute{Optional: true, Sensitive: true, MarkdownDescription: fmt.Sprintf(
			"The user's cephx secret (base64, as `ceph auth print-key` prints it), instead of a keyring (setting both in one block is refused). Default: `$%s`. Never logged.", v("KEY"))},
		"timeout": schema.StringAttribute{Optional: true, Validators: []validator.String{durationValidator}, MarkdownDescription: fmt.Sprintf(
			"Bound on connecting and on each monitor or OSD operation, as a duration (`30s`, `2m`). Default: `$%s`, else `30s`.", v("TIMEOUT"))},
		"ms_mode": schema.StringAttribute{Optional: true, Validators: []validator.String{stringvalidator.OneOf("crc", "secure", "prefer-crc", "prefer-secure")}, MarkdownDescription: fmt.Sprintf(
			"Messenger v2 connection mode, as krbd's `ms_mode`: `secure` encrypts all traffic with the cluster (AES-GCM), `crc` only checksums it, `prefer-*` accept either. "+
				"Sets librados' `ms_client_mode` and `ms_mon_client_mode`. Needs monitors reachable on msgr2 (port 3300 or a `v2:` address). Default: `$%s`, else the config file's setting (Ceph's defaults accept both modes).", v("MS_MODE"))},
		"options": schema.MapAttribute{Optional: true, ElementType: types.StringType, MarkdownDescription: "Further librados settings (`{ ms_connection_ready_timeout = \"10\" }`), " +
			"set with `conf_set` after the config file is read and before connecting. Settings that have their own attribute (`mon_host`, `keyring`, `key`, `ms_client_mode`, the timeouts) " +
			"and those the provider pins for correctness are refused at plan time."},
	}
	desc := map[string]string{
		"cluster":        "The cluster where the volumes live: backups are taken from it and restores are written to it. In a disaster, point it at the replacement cluster.",
		"backup_cluster": "The cluster that holds the backups. Omit it to keep backups on `cluster` (in another pool). Each setting falls back to the `CEPHBACKUP_BACKUP_*` environment variables.",
	}[block]
	return schema.SingleNestedAttribute{Optional: true, Attributes: attrs, MarkdownDescription: desc}
}

func (p *cephbackupProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Backs up Ceph RBD images the way OpenStack Cinder's Ceph backup driver does: full and incremental " +
			"backups as snapshots of a backup image, on the same or a second cluster, and restores from them.",
		Attributes: map[string]schema.Attribute{
			"cluster":        clusterSchema("cluster", cephconn.SourceEnv),
			"backup_cluster": clusterSchema("backup_cluster", cephconn.BackupEnv),
			"parallelism": schema.Int64Attribute{Optional: true, Validators: []validator.Int64{int64validator.Between(1, 256)},
				MarkdownDescription: fmt.Sprintf("Chunks (of at most one RADOS object) in flight in a transfer, each read then written with librbd's asynchronous I/O. Default: %d. "+
					"Like `max_in_flight_mib`, it applies per transfer: Terraform runs up to `-parallelism` (default 10) resources at once, each with its own transfer.", transfer.DefaultParallelism)},
			"max_in_flight_mib": schema.Int64Attribute{Optional: true, Validators: []validator.Int64{int64validator.Between(4, 4096)},
				MarkdownDescription: fmt.Sprintf("Bound on the data buffered by a transfer, in MiB (mebibytes); memory does not grow with the image size. Default: %d. "+
					"The bound is per transfer: with Terraform's `-parallelism=N` (default 10), up to N backups or restores run at once, so the provider may hold up to N times this much.", transfer.DefaultMaxInFlight>>20)},
			"backup_encryption_passphrase": schema.StringAttribute{Optional: true, Sensitive: true, Validators: []validator.String{stringvalidator.LengthAtLeast(1)},
				MarkdownDescription: fmt.Sprintf("Encrypts the backup images this provider creates at rest, with librbd's LUKS2 encryption (AES-256) under this passphrase, "+
					"so that the backup cluster's operators cannot read the volumes; restores, verification, `sha256` and diff files decrypt. "+
					"Every backup image marked encrypted needs it: without it, or with another one, reads and writes of its data are refused, nothing changed. "+
					"A backup image created without it stays plaintext, and is not extended while it is set. Never logged; like every provider setting, never in state "+
					"(pass it through an `ephemeral` variable, Terraform 1.10 or later, to keep it out of saved plans too). Default: `$%s`. "+
					"See the getting-started guide for its costs.", passphraseEnv)},
		},
	}
}

// clusterConfig turns a block (nil when omitted) into a connection config,
// with environment fallbacks and defaults; problems are attached to the
// attribute they come from.
func (p *cephbackupProvider) clusterConfig(block string, m *clusterModel, env cephconn.EnvPrefix, diags diagAdder) (cephconn.Config, bool) {
	if m == nil {
		m = &clusterModel{}
	}
	root := path.Root(block)
	for name, v := range map[string]types.String{"config_file": m.ConfigFile, "mon_host": m.MonHost, "user": m.User, "keyring": m.Keyring, "key": m.Key, "timeout": m.Timeout, "ms_mode": m.MsMode} {
		if v.IsUnknown() {
			diags.AddAttributeError(root.AtName(name), "Unknown provider setting",
				fmt.Sprintf("%s.%s depends on a value known only after apply; the provider must connect during plan. Use a value known at plan time.", block, name))
			return cephconn.Config{}, false
		}
	}
	if m.Key.ValueString() != "" && m.Keyring.ValueString() != "" {
		// Which one librados would use is not obvious to a reader of the configuration.
		diags.AddAttributeError(root.AtName("key"), "Both key and keyring are set",
			fmt.Sprintf("%s sets both key and keyring: give the user's secret one way. Keep key (for example from a sensitive variable) "+
				"or keyring (a file), and remove the other.", block))
		return cephconn.Config{}, false
	}
	cfg := cephconn.Config{
		ConfigFile: m.ConfigFile.ValueString(), MonHost: m.MonHost.ValueString(), User: m.User.ValueString(),
		Keyring: m.Keyring.ValueString(), Key: m.Key.ValueString(), MsMode: m.MsMode.ValueString(),
	}
	if m.Options.IsUnknown() {
		diags.AddAttributeError(root.AtName("options"), "Unknown provider setting",
			fmt.Sprintf("%s.options depends on a value known only after apply; the provider must connect during plan. Use values known at plan time.", block))
		return cfg, false
	}
	for name, v := range m.Options.Elements() {
		s, ok := v.(types.String)
		if !ok || s.IsUnknown() || s.IsNull() {
			diags.AddAttributeError(root.AtName("options").AtMapKey(name), "Unknown or null option",
				fmt.Sprintf("%s.options[%q] has no value known at plan time; give it a literal string or remove it.", block, name))
			return cfg, false
		}
		if err := cephconn.CheckOption(name); err != nil {
			diags.AddAttributeError(root.AtName("options").AtMapKey(name), "Option not allowed in "+block+".options", err.Error())
			return cfg, false
		}
		if cfg.Options == nil {
			cfg.Options = map[string]string{}
		}
		cfg.Options[name] = s.ValueString()
	}
	if s := m.Timeout.ValueString(); s != "" {
		d, err := cephconn.ParseTimeout(s)
		if err != nil {
			diags.AddAttributeError(root.AtName("timeout"), "Invalid timeout", err.Error())
			return cfg, false
		}
		cfg.Timeout = d
	}
	cfg, err := cfg.WithEnv(env, p.getenv)
	if err != nil {
		diags.AddAttributeError(root.AtName("timeout"), "Invalid timeout in the environment", err.Error())
		return cfg, false
	}
	if cfg.User == "" {
		diags.AddAttributeWarning(root.AtName("user"), "Connecting as client.admin",
			fmt.Sprintf("%s.user is not set (nor %s), so the provider connects as client.admin, which can do anything on the cluster. "+
				"Give it a least-privilege user (mon 'profile rbd', osd 'profile rbd pool=...', see the getting-started guide); "+
				"set user = \"admin\" to keep admin and silence this warning.", block, env.Var("USER")))
	}
	cfg = cfg.WithDefaults(cephconn.FileExists)
	if err := cfg.Validate(); err != nil {
		diags.AddAttributeError(root, "Invalid "+block+" settings", err.Error())
		return cfg, false
	}
	return cfg, true
}

func (p *cephbackupProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var m providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	srcCfg, ok := p.clusterConfig("cluster", m.Cluster, cephconn.SourceEnv, &resp.Diagnostics)
	if !ok {
		return
	}
	src := cephconn.NewClient("cluster", srcCfg)
	backup := src
	if m.BackupCluster != nil || p.getenv(cephconn.BackupEnv.Var("CONF")) != "" || p.getenv(cephconn.BackupEnv.Var("MON_HOST")) != "" {
		backupCfg, ok := p.clusterConfig("backup_cluster", m.BackupCluster, cephconn.BackupEnv, &resp.Diagnostics)
		if !ok {
			return
		}
		backup = cephconn.NewClient("backup_cluster", backupCfg)
	}
	opts := transfer.Options{}
	if !m.Parallelism.IsNull() && !m.Parallelism.IsUnknown() {
		opts.Parallelism = int(m.Parallelism.ValueInt64())
	}
	if !m.MaxInFlightMiB.IsNull() && !m.MaxInFlightMiB.IsUnknown() {
		opts.MaxInFlight = uint64(m.MaxInFlightMiB.ValueInt64()) << 20
	}
	if m.Passphrase.IsUnknown() {
		resp.Diagnostics.AddAttributeError(path.Root("backup_encryption_passphrase"), "Unknown provider setting",
			"backup_encryption_passphrase depends on a value known only after apply; the provider needs it during plan. Use a value known at plan time.")
		return
	}
	eng := &engine.Engine{SourceCluster: src, BackupCluster: backup, Transfer: opts, Log: tflogger{},
		Refresh: engine.NewRefreshCache(refreshReuse)}
	if pass := cmp.Or(m.Passphrase.ValueString(), p.getenv(passphraseEnv)); pass != "" {
		eng.Encryption = &engine.Encryption{Passphrase: []byte(pass)}
	}
	tflog.Debug(ctx, "cephbackup provider configured", map[string]any{
		"cluster_user": srcCfg.User, "separate_backup_cluster": backup != src, "backup_encryption": eng.Encryption != nil,
	})
	resp.ResourceData = eng
	resp.DataSourceData = eng
	resp.ActionData = eng
	resp.ListResourceData = eng
}

func (p *cephbackupProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{NewFullResource, NewIncrementalResource, NewRestoreResource, NewDiffFileResource, NewCloneResource, NewRestoreFromDiffFilesResource}
}

// Actions are served to Terraform >= 1.14; older Terraform and OpenTofu
// do not ask for them and ignore them in the schema.
func (p *cephbackupProvider) Actions(context.Context) []func() action.Action {
	return []func() action.Action{NewRestoreAction}
}

// ListResources serve `terraform query` (Terraform >= 1.14); older
// Terraform and OpenTofu do not ask for them.
func (p *cephbackupProvider) ListResources(context.Context) []func() list.ListResource {
	return []func() list.ListResource{NewFullListResource, NewIncrementalListResource}
}

// Functions are served to Terraform >= 1.8 and OpenTofu >= 1.7; older ones
// ignore them.
func (p *cephbackupProvider) Functions(context.Context) []func() function.Function {
	return []func() function.Function{NewPeriodsFunction, NewPeriodDaysFunction, NewRetainFunction}
}

func (p *cephbackupProvider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{NewRestorePointsDataSource, NewBackedUpImagesDataSource}
}

// tflogger routes engine logs to tflog, so TF_LOG=INFO shows transfers.
type tflogger struct{}

func (tflogger) Info(ctx context.Context, msg string, fields map[string]any) {
	tflog.Info(ctx, msg, fields)
}

func (tflogger) Debug(ctx context.Context, msg string, fields map[string]any) {
	tflog.Debug(ctx, msg, fields)
}

func (tflogger) Warn(ctx context.Context, msg string, fields map[string]any) {
	tflog.Warn(ctx, msg, fields)
}
