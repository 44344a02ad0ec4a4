package provider

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
)

// The list resources serve `terraform query` (Terraform >= 1.14): this test
// makes the calls Terraform makes, with any Terraform. Backups no state knows, made straight through the engine as another workspace or
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

// TestAccListResource_queryAdoptsWhatAnotherWorkspaceTook runs the real
// `terraform query -generate-config-out` (Terraform >= 1.14) on a chain that
// another workspace took: the generated import blocks adopt both points with
// no change to them, the next plan is empty, and a destroy of the adopted
// resources removes them child first, as for backups this state created.
func TestAccListResource_queryAdoptsWhatAnotherWorkspaceTook(t *testing.T) {
	e := newAccEnv(t)
	tf := newestTerraform(t, "`terraform query`")
	ctx := context.Background()
	img := uniqueImage("qry")
	e.src.CreateImage(t, srcPool, img, 8<<20)
	e.src.WriteRandom(t, srcPool, img, 0, 2<<20, 4)
	eng := e.adminEngine()
	full, err := eng.Backup(ctx, engine.BackupRequest{Pool: srcPool, Image: img, BackupPool: backupPool, Labels: map[string]string{"tier": "weekly"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.src.WriteRandom(t, srcPool, img, 4<<20, 1<<20, 5)
	incr, err := eng.Backup(ctx, engine.BackupRequest{Pool: srcPool, Image: img, BackupPool: backupPool, ParentID: full.ID, Labels: map[string]string{"tier": "daily"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	backupImage := backupPool + "/" + chain.BackupImageName(img)
	sums := map[string]string{}
	for _, snap := range []string{full.Snapshot, incr.Snapshot} {
		sums[snap] = e.dst.ExportSHA256(t, backupImage+"@"+snap)
	}

	w := newWorkspace(t)
	w.terraform = tf
	t.Cleanup(func() {
		// Destroying the adopted resources is the test's last check; the
		// engine removes whatever an earlier failure left unadopted.
		_ = os.Remove(filepath.Join(w.dir, "adopted.tf"))
		w.write(e.providerBlock())
		if out, err := w.run("apply", "-auto-approve", "-no-color"); err != nil {
			t.Errorf("destroying the adopted backups: %v\n%s", err, tail(out, 30))
		}
		for _, b := range []chain.Record{incr, full} {
			if e.dst.ImageExists(t, backupPool, chain.BackupImageName(img)) && slices.Contains(e.dst.Snapshots(t, backupPool, chain.BackupImageName(img)), b.Snapshot) {
				t.Errorf("restore point %s@%s was left after destroying the adopted resources", chain.BackupImageName(img), b.Snapshot)
				if _, err := eng.Delete(ctx, engine.DeleteRequest{BackupPool: backupPool, Pool: srcPool, Image: img, ID: b.ID, Snapshot: b.Snapshot}); err != nil {
					t.Error(err)
				}
			}
		}
		if err := e.checkNoBackupsLeft(t, img)(nil); err != nil {
			t.Error(err)
		}
	})

	w.write(e.providerBlock())
	query := `
list "cephbackup_full" "mine" {
  provider = cephbackup
  config {
    backup_pool = "` + backupPool + `"
    image       = "` + img + `"
  }
}

list "cephbackup_incremental" "mine" {
  provider = cephbackup
  config {
    backup_pool = "` + backupPool + `"
    image       = "` + img + `"
    labels      = { tier = "daily" }
  }
}
`
	if err := os.WriteFile(filepath.Join(w.dir, "backups.tfquery.hcl"), []byte(query), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := w.run("query", "-no-color", "-generate-config-out=adopted.tf")
	if err != nil {
		t.Fatalf("terraform query: %v\n%s", err, tail(out, 40))
	}
	t.Logf("terraform query:\n%s", tail(out, 20))
	for _, id := range []string{full.ID, incr.ID} {
		if !strings.Contains(out, id) {
			t.Fatalf("terraform query does not list backup %s:\n%s", id, out)
		}
	}
	generated, err := os.ReadFile(filepath.Join(w.dir, "adopted.tf"))
	if err != nil {
		t.Fatalf("terraform query wrote no configuration: %v", err)
	}
	t.Logf("adopted.tf:\n%s", generated)
	if n := strings.Count(string(generated), "import {"); n != 2 {
		t.Fatalf("adopted.tf holds %d import blocks, want 2 (the full and the incremental):\n%s", n, generated)
	}
	// Generated configuration holds parent_id as a literal, so Terraform
	// would not know that the child must be destroyed first: the guide's
	// review step refers to the adopted parent instead, before the apply
	// that imports (the cleanup's destroy depends on that order).
	fullName := regexp.MustCompile(`resource "cephbackup_full" "([A-Za-z0-9_-]+)"`).FindSubmatch(generated)
	literal := regexp.MustCompile(`(parent_id\s*=\s*)"` + regexp.QuoteMeta(full.ID) + `"`)
	if fullName == nil || !literal.Match(generated) {
		t.Fatalf("adopted.tf has no cephbackup_full resource or no parent_id = %q:\n%s", full.ID, generated)
	}
	reviewed := literal.ReplaceAll(generated, []byte("${1}cephbackup_full."+string(fullName[1])+".id"))
	if err := os.WriteFile(filepath.Join(w.dir, "adopted.tf"), reviewed, 0o600); err != nil {
		t.Fatal(err)
	}
	// The query file is only for `terraform query`; plan and apply read .tf files.
	out, err = w.run("apply", "-auto-approve", "-no-color")
	if err != nil {
		t.Fatalf("terraform apply of the generated configuration: %v\n%s", err, tail(out, 40))
	}
	if !strings.Contains(out, "Apply complete! Resources: 2 imported, 0 added, 0 changed, 0 destroyed") {
		t.Fatalf("applying the generated configuration did more or less than import both backups:\n%s", tail(out, 30))
	}
	if out, err := w.run("plan", "-detailed-exitcode", "-no-color"); err != nil {
		t.Fatalf("the plan after adoption is not empty (%v):\n%s", err, tail(out, 40))
	}
	for snap, want := range sums {
		if got := e.dst.ExportSHA256(t, backupImage+"@"+snap); got != want {
			t.Fatalf("adoption changed restore point %s: sha256 %s, want %s", snap, got, want)
		}
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
