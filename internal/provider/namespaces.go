package provider

import (
	"context"
	"errors"
	"fmt"

	dsschema "github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/cephconn"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
)

// RADOS namespaces. Every pool attribute may have a namespace beside it
// (`namespace`, `backup_namespace`, `target_namespace`); the provider joins
// each pair into a pool path ("pool/namespace", see cephconn.PoolPath) and
// hands the engine only pool paths.
//
// `backup_namespace` defaults to the source's `namespace`, so the backups of
// a tenant's volumes stay in that tenant's namespace of the backup pool and
// two volumes of one name in two namespaces never share a backup image.
// `target_namespace` defaults to the pool's default namespace, as
// `target_pool` names its pool explicitly.

const namespaceDocs = " Must exist (`rbd namespace create --pool <pool> --namespace <name>`); " +
	"a cephx user limited to it needs `osd 'profile rbd pool=<pool> namespace=<name>'`."

// namespaceValidator checks a namespace name: null, not "", is the pool's
// default namespace, so that no spelling of the default can force a
// replacement.
var namespaceValidator = stringCheck{
	description: "a RADOS namespace name, without '/' or '@'",
	summary:     "Invalid namespace",
	check: func(what, v string) error {
		if v == "" {
			return fmt.Errorf("%s must not be empty: leave it out for the pool's default namespace", what)
		}
		return chain.ValidateName(what, v)
	},
}

// inheritedNamespaceValidator checks a namespace that defaults to another
// one, where "" chooses the pool's default namespace instead.
var inheritedNamespaceValidator = stringCheck{
	description: "a RADOS namespace name, without '/' or '@'; \"\" for the pool's default namespace",
	summary:     "Invalid namespace",
	check: func(what, v string) error {
		if v == "" {
			return nil
		}
		return chain.ValidateName(what, v)
	},
}

// namespaceAttr is an optional namespace whose change replaces the resource.
func namespaceAttr(desc string) schema.StringAttribute {
	return schema.StringAttribute{Optional: true, MarkdownDescription: desc + namespaceDocs,
		Validators:    []validator.String{namespaceValidator},
		PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()}}
}

// dataSourceNamespaceAttr is an optional namespace of a data source, checked
// by check (namespaceValidator, or inheritedNamespaceValidator where "" has
// a meaning).
func dataSourceNamespaceAttr(desc string, check validator.String) dsschema.StringAttribute {
	return dsschema.StringAttribute{Optional: true, MarkdownDescription: desc + namespaceDocs,
		Validators: []validator.String{check}}
}

// backupNamespaceDocs describes `backup_namespace` wherever it is.
const backupNamespaceDocs = "RADOS namespace of `backup_pool` that holds the backup image. Default: the source's `namespace` " +
	"(so each tenant's backups stay in its own namespace, and images of one name in two namespaces never share a backup image); " +
	"`\"\"` for the backup pool's default namespace."

// backupNamespaceAttr is `backup_namespace`, which defaults to `namespace`:
// it replaces the resource only when the namespace it stands for changes
// (setting it to the value it defaulted to is an update in place).
func backupNamespaceAttr() schema.StringAttribute {
	return schema.StringAttribute{Optional: true,
		MarkdownDescription: backupNamespaceDocs + namespaceDocs,
		Validators:          []validator.String{inheritedNamespaceValidator},
		PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplaceIf(
			func(ctx context.Context, req planmodifier.StringRequest, resp *stringplanmodifier.RequiresReplaceIfFuncResponse) {
				var planned, stated types.String
				resp.Diagnostics.Append(req.Plan.GetAttribute(ctx, path.Root("namespace"), &planned)...)
				resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("namespace"), &stated)...)
				resp.RequiresReplace = backupNamespace(planned, req.PlanValue) != backupNamespace(stated, req.StateValue)
			},
			"Replaced when the backup namespace it stands for changes.",
			"Replaced when the backup namespace it stands for changes.")},
	}
}

// backupNamespace is the namespace of the backup pool in use: the one set,
// else the source's.
func backupNamespace(namespace, backupNamespace types.String) string {
	if backupNamespace.IsNull() || backupNamespace.IsUnknown() {
		return namespace.ValueString()
	}
	return backupNamespace.ValueString()
}

// poolPath joins a pool attribute and its namespace attribute.
func poolPath(pool, namespace types.String) string {
	return cephconn.PoolPath(pool.ValueString(), namespace.ValueString())
}

// namespaceValue is a namespace for state: null for the default namespace.
func namespaceValue(ns string) types.String {
	if ns == "" {
		return types.StringNull()
	}
	return types.StringValue(ns)
}

// setPoolPath sets a pool attribute and its namespace attribute from a pool
// path, keeping a namespace attribute that already says the same.
func setPoolPath(path string, pool, namespace *types.String) {
	p, ns := cephconn.SplitPoolPath(path)
	*pool = types.StringValue(p)
	if namespace.ValueString() != ns || namespace.IsUnknown() {
		*namespace = namespaceValue(ns)
	}
}

// setBackupPoolPath sets backup_pool and backup_namespace from a pool path,
// leaving backup_namespace null while it is the source's namespace (its
// default). Call it after the source's namespace is set.
func setBackupPoolPath(path string, namespace types.String, pool, backupNs *types.String) {
	p, ns := cephconn.SplitPoolPath(path)
	*pool = types.StringValue(p)
	switch {
	case backupNamespace(namespace, *backupNs) == ns && !backupNs.IsUnknown():
	case ns == namespace.ValueString():
		*backupNs = types.StringNull()
	default:
		*backupNs = types.StringValue(ns)
	}
}

// attributeOf is the attribute an engine FieldError is about: a namespace
// that is missing or unusable is reported on the namespace attribute beside
// the pool the engine names.
func attributeOf(field *engine.FieldError) path.Path {
	var ns *cephconn.NamespaceError
	if errors.As(field.Err, &ns) {
		switch field.Field {
		case engine.AttrPool:
			return path.Root("namespace")
		case engine.AttrBackupPool:
			return path.Root("backup_namespace")
		case engine.AttrTargetPool:
			return path.Root("target_namespace")
		}
	}
	return path.Root(field.Field)
}
