package provider

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/cephconn"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
)

// What the resources, data sources and the action share: default timeouts,
// the timeout preamble of their operations, schema helpers and the string
// validators.

// Generous defaults: a full backup of a large volume can take hours.
const (
	defaultCreateTimeout = 6 * time.Hour
	defaultUpdateTimeout = 6 * time.Hour // verify = true reads the whole restore point
	defaultDeleteTimeout = 30 * time.Minute
	// A refresh reads records and metadata, each call bounded by the
	// cluster's `timeout`; this bounds the whole read.
	defaultReadTimeout = 5 * time.Minute
	// refreshReuse is how long a refresh reuses what it read of a backup
	// image for the other restore points on it (engine.RefreshCache):
	// longer than a refresh of thousands of backups takes.
	refreshReuse = 30 * time.Second
)

// The timeouts of each resource.
var (
	backupTimeouts    = resourceTimeouts{create: defaultCreateTimeout, read: defaultReadTimeout, update: defaultUpdateTimeout, delete: defaultDeleteTimeout}
	restoreTimeouts   = resourceTimeouts{create: defaultCreateTimeout, read: defaultReadTimeout, delete: defaultDeleteTimeout}
	cloneTimeouts     = resourceTimeouts{create: defaultCreateTimeout, read: defaultReadTimeout, update: defaultUpdateTimeout, delete: defaultDeleteTimeout}
	fileTimeouts      = resourceTimeouts{create: defaultCreateTimeout, read: 30 * time.Minute} // a refresh reads the whole file
	fromFilesTimeouts = resourceTimeouts{create: defaultCreateTimeout, read: defaultReadTimeout}
)

// resourceTimeouts says which operations a resource's timeouts block
// offers and their defaults; zero means not offered.
type resourceTimeouts struct {
	create, read, update, delete time.Duration
}

// block is the timeouts block, each attribute's description naming its
// default, so the resource's page states it.
func (d resourceTimeouts) block(ctx context.Context) schema.Block {
	desc := func(what string, def time.Duration) string {
		return fmt.Sprintf("How long %s may take, as a duration (`30s`, `45m`, `2h`). Default: `%s`.", what, durationString(def))
	}
	return timeouts.Block(ctx, timeouts.Opts{
		Create: d.create > 0, CreateDescription: desc("creating it", d.create),
		Read: d.read > 0, ReadDescription: desc("reading it at a refresh", d.read),
		Update: d.update > 0, UpdateDescription: desc("an update in place", d.update),
		Delete: d.delete > 0, DeleteDescription: desc("deleting it", d.delete),
	})
}

// null is an unset timeouts block, for state written by import.
func (d resourceTimeouts) null() timeouts.Value {
	var names []string
	for _, op := range []struct {
		name string
		set  bool
	}{{"create", d.create > 0}, {"read", d.read > 0}, {"update", d.update > 0}, {"delete", d.delete > 0}} {
		if op.set {
			names = append(names, op.name)
		}
	}
	return timeouts.Value{Object: types.ObjectNull(timeoutsAttrTypes(names...))}
}

// timeoutGetter is the shape of timeouts.Value's Create, Update, Delete and
// (for actions) Invoke methods.
type timeoutGetter func(context.Context, time.Duration) (time.Duration, diag.Diagnostics)

// withTimeout bounds ctx by the configured timeout (def when unset). ok is
// false when the timeout is invalid, which diags then says; cancel must be
// called when ok is true.
func withTimeout(ctx context.Context, get timeoutGetter, def time.Duration, diags *diag.Diagnostics) (_ context.Context, cancel context.CancelFunc, ok bool) {
	timeout, d := get(ctx, def)
	diags.Append(d...)
	if d.HasError() {
		return ctx, nil, false
	}
	ctx, cancel = context.WithTimeout(ctx, timeout)
	return ctx, cancel, true
}

// timeoutsAttrTypes are the attribute types of a timeouts block with the
// named operations, for a null block in imported state.
func timeoutsAttrTypes(names ...string) map[string]attr.Type {
	types := make(map[string]attr.Type, len(names))
	for _, n := range names {
		types[n] = basetypes.StringType{}
	}
	return types
}

func computedString(desc string) schema.StringAttribute {
	return schema.StringAttribute{Computed: true, MarkdownDescription: desc,
		PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}}
}

func computedInt64(desc string) schema.Int64Attribute {
	return schema.Int64Attribute{Computed: true, MarkdownDescription: desc,
		PlanModifiers: []planmodifier.Int64{int64planmodifier.UseStateForUnknown()}}
}

func optionalBool(desc string) schema.BoolAttribute {
	return schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(false), MarkdownDescription: desc}
}

func requiredName(desc string) schema.StringAttribute {
	return schema.StringAttribute{Required: true, MarkdownDescription: desc,
		Validators:    []validator.String{nameValidator},
		PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()}}
}

// stringCheck is a plan-time validator of a string attribute backed by a
// function: check gets the attribute's name (for its message) and value.
type stringCheck struct {
	description string
	summary     string // the diagnostic's summary
	check       func(attribute, value string) error
	hint        string // appended to check's error: what to write instead
}

var _ validator.String = stringCheck{}

func (v stringCheck) Description(context.Context) string { return v.description }

func (v stringCheck) MarkdownDescription(context.Context) string { return v.description }

func (v stringCheck) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := v.check(req.Path.String(), req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, v.summary, err.Error()+v.hint)
	}
}

var (
	// nameValidator checks pool and image names.
	nameValidator = stringCheck{
		description: "a bare Ceph pool or image name: not empty, without '/' or '@'",
		summary:     "Invalid name",
		check:       chain.ValidateName,
	}
	// backupIDValidator checks backup ids.
	backupIDValidator = stringCheck{
		description: "a backup id (a lower-case UUID)",
		summary:     "Invalid backup id",
		check:       func(_, id string) error { return chain.ValidateID(id) },
	}
	// durationValidator checks timeouts.
	durationValidator = stringCheck{
		description: "a duration of at least one second, such as \"30s\" or \"2m\"",
		summary:     "Invalid timeout",
		check: func(_, s string) error {
			_, err := cephconn.ParseTimeout(s)
			return err
		},
	}
	// rfc3339Validator checks time filters.
	rfc3339Validator = stringCheck{
		description: "a time in RFC 3339, such as \"2026-11-01T00:00:00Z\"",
		summary:     "Invalid time",
		check: func(_, s string) error {
			if _, err := time.Parse(time.RFC3339, s); err != nil {
				return fmt.Errorf("%q is not a time in RFC 3339 (%w)", s, err)
			}
			return nil
		},
		hint: ". Write it as 2026-11-01T00:00:00Z, or use timestamp() / timeadd().",
	}
)

// updateTimeoutsOnly is the Update of a resource of which only the timeouts
// change in place: the state stays, with the planned timeouts.
func updateTimeoutsOnly(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var planned timeouts.Value
	resp.Diagnostics.Append(req.Plan.GetAttribute(ctx, path.Root("timeouts"), &planned)...)
	resp.State.Raw = req.State.Raw
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("timeouts"), planned)...)
}

// clusterFSIDAttr is the computed attribute (cluster_fsid or
// backup_cluster_fsid) that records which cluster, `which`, holds what a
// resource made.
func clusterFSIDAttr(which string) schema.StringAttribute {
	return computedString(fmt.Sprintf("The fsid of the cluster `%s` reached when this was made. A refresh, update or destroy through a `%s` "+
		"that reaches another cluster (with pools of the same names, where nothing of this would be found) fails, naming both fsids, "+
		"instead of taking this for gone. State written before this attribute existed gets it at its next refresh.", which, which))
}

// checkCluster fails, with a diagnostic naming both fsids, when client (the
// provider's `which`) reaches another cluster than the one recorded in
// state: there, what the resource made would look gone, and state would
// forget it. It returns the fsid reached; recorded may be null or empty
// (state written before fsids were recorded), which any cluster passes.
func checkCluster(ctx context.Context, client *cephconn.Client, which string, recorded types.String, what string, diags *diag.Diagnostics) (fsid string, ok bool) {
	fsid, err := client.FSID(ctx)
	if err != nil {
		diags.AddError("Cannot read "+what, err.Error())
		return "", false
	}
	if want := recorded.ValueString(); want != "" && want != fsid {
		diags.AddError("Wrong cluster: "+which+" reaches another cluster than the one that holds "+what,
			fmt.Sprintf("%s is on the cluster with fsid %s, but the provider's %s (%s) reaches the cluster with fsid %s, where it cannot be found. "+
				"Nothing was changed and the state still holds it. To manage it again, point %s back at the cluster with fsid %s. "+
				"If it is really gone with that cluster, remove it from the state with `terraform state rm <address>`.",
				what, want, which, client.Name(), fsid, which, want))
		return "", false
	}
	return fsid, true
}

// forgetIfGone is the Read of a resource that made pool/image on cluster
// (recorded in state as fsid): an image removed since is forgotten, so the
// next apply makes it again. On another cluster it fails (checkCluster); on
// the same one it records the cluster's fsid as cluster_fsid.
func forgetIfGone(ctx context.Context, eng *engine.Engine, fsid types.String, pool, image, what string, resp *resource.ReadResponse) {
	reached, ok := checkCluster(ctx, eng.SourceCluster, "cluster", fsid, what+" "+pool+"/"+image, &resp.Diagnostics)
	if !ok {
		return
	}
	exists, err := eng.ImageExists(ctx, pool, image)
	if err != nil {
		resp.Diagnostics.AddError("Cannot read "+what, err.Error())
		return
	}
	if !exists {
		resp.State.RemoveResource(ctx)
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("cluster_fsid"), reached)...)
}
