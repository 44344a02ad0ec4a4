package provider

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
)

// The list resources drive `terraform query` (Terraform >= 1.14, which
// cannot be built here): this test makes the calls Terraform makes. Backups
// no state knows, made straight through the engine as another workspace or
// a lost state would leave them, are listed by kind, image and label, each
// with the identity import uses and, when asked, its resource state.
func TestAccListResource_findsBackupsNoStateKnows(t *testing.T) {
	e := newAccEnv(t)
	ctx := context.Background()
	img := uniqueImage("lst")
	e.src.CreateImage(t, srcPool, img, 4<<20)
	e.src.WriteRandom(t, srcPool, img, 0, 1<<20, 2)
	eng := e.adminEngine()
	full, err := eng.Backup(ctx, engine.BackupRequest{Pool: srcPool, Image: img, BackupPool: backupPool, Labels: map[string]string{"tier": "weekly"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	incr, err := eng.Backup(ctx, engine.BackupRequest{Pool: srcPool, Image: img, BackupPool: backupPool, ParentID: full.ID}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, r := range []struct{ id, snap string }{{incr.ID, incr.Snapshot}, {full.ID, full.Snapshot}} {
			if _, err := eng.Delete(ctx, engine.DeleteRequest{BackupPool: backupPool, Pool: srcPool, Image: img, ID: r.id, Snapshot: r.snap}); err != nil {
				t.Error(err)
			}
		}
	})

	server, schemas := e.configuredServer(t)
	srv, ok := server.(tfprotov6.ListResourceServer)
	if !ok {
		t.Fatalf("the provider server %T serves no list resources", server)
	}
	list := func(typeName string, cfg map[string]tftypes.Value, include bool) (ids, names []string, states []map[string]tftypes.Value) {
		t.Helper()
		ls, ok := schemas.ListResourceSchemas[typeName]
		if !ok {
			t.Fatalf("no list resource %s: %v", typeName, schemas.ListResourceSchemas)
		}
		stream, err := srv.ListResource(ctx, &tfprotov6.ListResourceRequest{TypeName: typeName, IncludeResource: include,
			Config: dynamicValue(t, ls.ValueType(), cfg)})
		if err != nil {
			t.Fatal(err)
		}
		rs := schemas.ResourceSchemas[typeName].ValueType()
		idType := tftypes.Object{AttributeTypes: map[string]tftypes.Type{"backup_pool": tftypes.String, "id": tftypes.String}}
		for res := range stream.Results {
			if hasError(res.Diagnostics) {
				t.Fatalf("%s: %s", typeName, diagText(res.Diagnostics))
			}
			ident := attrs(t, res.Identity.IdentityData, idType)
			var id, pool string
			_ = ident["id"].As(&id)
			_ = ident["backup_pool"].As(&pool)
			if pool != backupPool {
				t.Fatalf("identity names backup pool %q", pool)
			}
			ids, names = append(ids, id), append(names, res.DisplayName)
			if include {
				states = append(states, attrs(t, res.Resource, rs))
			}
		}
		return ids, names, states
	}
	str := func(s string) tftypes.Value { return tftypes.NewValue(tftypes.String, s) }
	mine := map[string]tftypes.Value{"backup_pool": str(backupPool), "image": str(img)}

	fulls, names, states := list("cephbackup_full", mine, true)
	if !slices.Equal(fulls, []string{full.ID}) {
		t.Fatalf("full backups of %s listed: %v, want only %s", img, fulls, full.ID)
	}
	if !strings.Contains(names[0], img) || !strings.Contains(names[0], full.ID) {
		t.Fatalf("display name %q names neither the image nor the id", names[0])
	}
	var snap string
	_ = states[0]["snapshot"].As(&snap)
	if snap != full.Snapshot {
		t.Fatalf("listed resource state has snapshot %q, want %q", snap, full.Snapshot)
	}
	if incrs, _, _ := list("cephbackup_incremental", mine, false); !slices.Equal(incrs, []string{incr.ID}) {
		t.Fatalf("incremental backups of %s listed: %v, want only %s", img, incrs, incr.ID)
	}
	labelled := map[string]tftypes.Value{"backup_pool": str(backupPool), "image": str(img),
		"labels": tftypes.NewValue(tftypes.Map{ElementType: tftypes.String}, map[string]tftypes.Value{"tier": str("daily")})}
	if none, _, _ := list("cephbackup_full", labelled, false); len(none) != 0 {
		t.Fatalf("label tier=daily matched %v", none)
	}
	// What the generated import block does: import by identity.
	idType := tftypes.Object{AttributeTypes: map[string]tftypes.Type{"backup_pool": tftypes.String, "id": tftypes.String}}
	imported, err := server.ImportResourceState(ctx, &tfprotov6.ImportResourceStateRequest{TypeName: "cephbackup_full",
		Identity: &tfprotov6.ResourceIdentityData{IdentityData: dynamicValue(t, idType, map[string]tftypes.Value{"backup_pool": str(backupPool), "id": str(full.ID)})}})
	if err != nil || hasError(imported.Diagnostics) || len(imported.ImportedResources) != 1 {
		t.Fatalf("import by identity: %v %s", err, diagText(imported.Diagnostics))
	}
	var importedID string
	_ = attrs(t, imported.ImportedResources[0].State, schemas.ResourceSchemas["cephbackup_full"].ValueType())["id"].As(&importedID)
	if importedID != full.ID {
		t.Fatalf("import by identity gave id %q, want %s", importedID, full.ID)
	}
	everything, _, _ := list("cephbackup_full", map[string]tftypes.Value{"backup_pool": str(backupPool)}, false)
	if !slices.Contains(everything, full.ID) || slices.Contains(everything, incr.ID) {
		t.Fatalf("the pool's full backups %v should hold %s and not the incremental %s", everything, full.ID, incr.ID)
	}
}

// attrs decodes a dynamic value of an object type into its attributes.
func attrs(t *testing.T, dv *tfprotov6.DynamicValue, typ tftypes.Type) map[string]tftypes.Value {
	t.Helper()
	if dv == nil {
		t.Fatal("no value")
	}
	v, err := dv.Unmarshal(typ)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]tftypes.Value{}
	if err := v.As(&out); err != nil {
		t.Fatal(err)
	}
	return out
}
