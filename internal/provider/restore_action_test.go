package provider

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/action"
	actionschema "github.com/hashicorp/terraform-plugin-framework/action/schema"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/transfer"
)

// TestRestoreAction_sharesTheResourcesArguments: the action takes exactly the
// resource's restore arguments, documented and validated alike, plus its
// own timeout.
func TestRestoreAction_sharesTheResourcesArguments(t *testing.T) {
	ctx := context.Background()
	var ar action.SchemaResponse
	NewRestoreAction().Schema(ctx, action.SchemaRequest{}, &ar)
	var rr resource.SchemaResponse
	NewRestoreResource().Schema(ctx, resource.SchemaRequest{}, &rr)
	if ar.Diagnostics.HasError() || rr.Diagnostics.HasError() {
		t.Fatal(ar.Diagnostics, rr.Diagnostics)
	}
	if len(ar.Schema.Attributes) != len(restoreArgDocs) {
		t.Fatalf("the action has %d arguments, the shared restore arguments are %d", len(ar.Schema.Attributes), len(restoreArgDocs))
	}
	for name, a := range ar.Schema.Attributes {
		r, ok := rr.Schema.Attributes[name]
		if !ok {
			t.Errorf("action argument %s is not an argument of the resource", name)
			continue
		}
		if a.IsRequired() != r.IsRequired() {
			t.Errorf("%s: required %v in the action, %v in the resource", name, a.IsRequired(), r.IsRequired())
		}
		if !strings.HasPrefix(a.GetMarkdownDescription(), restoreArgDocs[name]) || !strings.HasPrefix(r.GetMarkdownDescription(), restoreArgDocs[name]) {
			t.Errorf("%s: described differently by the action and the resource", name)
		}
		if s, ok := a.(actionschema.StringAttribute); ok && len(s.Validators) != 1 {
			t.Errorf("%s: %d validators, want the resource's one", name, len(s.Validators))
		}
	}
	if _, ok := ar.Schema.Blocks["timeouts"]; !ok {
		t.Error("the action has no timeouts block")
	}
}

func TestRestoreAction_progressMessage(t *testing.T) {
	p := transfer.Progress{Done: 96 << 20, Total: 240 << 20, Elapsed: 2 * time.Second}
	got := progressMessage("restore", p)
	want := "restore: 40.0%, 100663296 of 251658240 bytes (96.0 MiB of 240.0 MiB) at 48.0 MiB/s, about 3s left"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	done := progressMessage("restore", transfer.Progress{Done: 1 << 20, Total: 1 << 20, Elapsed: time.Second})
	if strings.Contains(done, "left") || !strings.HasPrefix(done, "restore: 100.0%") {
		t.Fatalf("final progress: %q", done)
	}
	for d, want := range map[time.Duration]string{6 * time.Hour: "6h", 90 * time.Second: "1m30s", 2 * time.Minute: "2m", 1500 * time.Millisecond: "2s"} {
		if got := durationString(d); got != want {
			t.Errorf("durationString(%s) = %q, want %q", d, got, want)
		}
	}
}

// TestRestoreAction_progressNeverHoldsTheRestore: SendProgress blocks until
// Terraform takes the event; the restore must go on regardless, and the
// events sent reach Terraform in order before the action completes.
func TestRestoreAction_progressNeverHoldsTheRestore(t *testing.T) {
	release := make(chan struct{})
	var got []string
	p := startProgress(func(ev action.InvokeProgressEvent) {
		<-release // Terraform is slow to read
		got = append(got, ev.Message)
	})
	sent := make(chan struct{})
	go func() {
		for i := range 1000 {
			p.send(strings.Repeat("x", i%3))
		}
		close(sent)
	}()
	select {
	case <-sent:
	case <-time.After(5 * time.Second):
		t.Fatal("sending progress blocked while Terraform was not reading")
	}
	close(release)
	p.stop(context.Background())
	if len(got) == 0 || len(got) > 1000 || got[0] != "" {
		t.Fatalf("%d events reached Terraform, first %q", len(got), got)
	}

	// Terraform gone: stop returns when the invocation's context ends.
	p = startProgress(func(action.InvokeProgressEvent) { select {} })
	p.send("stuck")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	p.stop(ctx)
}

// protoObject builds a value of an object type, null where vals has nothing.
func protoObject(typ tftypes.Type, vals map[string]tftypes.Value) tftypes.Value {
	obj := typ.(tftypes.Object)
	all := make(map[string]tftypes.Value, len(obj.AttributeTypes))
	for name, at := range obj.AttributeTypes {
		if v, ok := vals[name]; ok {
			all[name] = v
		} else {
			all[name] = tftypes.NewValue(at, nil)
		}
	}
	return tftypes.NewValue(obj, all)
}

func dynamicValue(t *testing.T, typ tftypes.Type, vals map[string]tftypes.Value) *tfprotov6.DynamicValue {
	t.Helper()
	dv, err := tfprotov6.NewDynamicValue(typ, protoObject(typ, vals))
	if err != nil {
		t.Fatal(err)
	}
	return &dv
}

func diagText(diags []*tfprotov6.Diagnostic) string {
	var b strings.Builder
	for _, d := range diags {
		b.WriteString(d.Severity.String() + " " + d.Summary + ": " + d.Detail)
		if d.Attribute != nil {
			b.WriteString(" [" + d.Attribute.String() + "]")
		}
		b.WriteString("\n")
	}
	return b.String()
}

func hasError(diags []*tfprotov6.Diagnostic) bool {
	for _, d := range diags {
		if d.Severity == tfprotov6.DiagnosticSeverityError {
			return true
		}
	}
	return false
}

// actionServer is the provider's protocol server, configured for the test
// clusters as Terraform configures it, with the action's config type.
type actionServer struct {
	t   *testing.T
	srv interface {
		tfprotov6.ProviderServer
		tfprotov6.ActionServer
	}
	configType tftypes.Type
}

func (e *accEnv) newActionServer(t *testing.T) *actionServer {
	t.Helper()
	server, schemas := e.configuredServer(t)
	srv, ok := server.(interface {
		tfprotov6.ProviderServer
		tfprotov6.ActionServer
	})
	if !ok {
		t.Fatalf("the provider server %T serves no actions", server)
	}
	as, ok := schemas.ActionSchemas["cephbackup_restore"]
	if !ok {
		t.Fatalf("the provider serves no cephbackup_restore action: %v", schemas.ActionSchemas)
	}
	return &actionServer{t: t, srv: srv, configType: as.Schema.ValueType()}
}

// configuredServer is the provider's protocol server configured for the test
// clusters as Terraform 1.14 configures it, with its schemas.
func (e *accEnv) configuredServer(t *testing.T) (tfprotov6.ProviderServer, *tfprotov6.GetProviderSchemaResponse) {
	t.Helper()
	ctx := context.Background()
	srv, err := providerserver.NewProtocol6WithError(New("test")())()
	if err != nil {
		t.Fatal(err)
	}
	schemas, err := srv.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{})
	if err != nil || hasError(schemas.Diagnostics) {
		t.Fatalf("GetProviderSchema: %v %s", err, diagText(schemas.Diagnostics))
	}
	pt := schemas.Provider.ValueType()
	cluster := func(mon, user, key string) tftypes.Value {
		return protoObject(pt.(tftypes.Object).AttributeTypes["cluster"], map[string]tftypes.Value{
			"mon_host": tftypes.NewValue(tftypes.String, mon), "user": tftypes.NewValue(tftypes.String, user),
			"key": tftypes.NewValue(tftypes.String, key), "timeout": tftypes.NewValue(tftypes.String, "20s"),
		})
	}
	conf, err := srv.ConfigureProvider(ctx, &tfprotov6.ConfigureProviderRequest{TerraformVersion: "1.14.1", Config: dynamicValue(t, pt, map[string]tftypes.Value{
		"cluster":        cluster(e.src.MonHost, srcUser, e.srcKey),
		"backup_cluster": cluster(e.dst.MonHost, dstUser, e.dstKey),
	})})
	if err != nil || hasError(conf.Diagnostics) {
		t.Fatalf("ConfigureProvider: %v %s", err, diagText(conf.Diagnostics))
	}
	return srv, schemas
}

func (s *actionServer) config(args map[string]any) *tfprotov6.DynamicValue {
	vals := map[string]tftypes.Value{}
	for k, v := range args {
		switch v := v.(type) {
		case string:
			vals[k] = tftypes.NewValue(tftypes.String, v)
		case bool:
			vals[k] = tftypes.NewValue(tftypes.Bool, v)
		}
	}
	return dynamicValue(s.t, s.configType, vals)
}

func (s *actionServer) plan(args map[string]any) []*tfprotov6.Diagnostic {
	s.t.Helper()
	ctx := context.Background()
	v, err := s.srv.ValidateActionConfig(ctx, &tfprotov6.ValidateActionConfigRequest{ActionType: "cephbackup_restore", Config: s.config(args)})
	if err != nil {
		s.t.Fatal(err)
	}
	if hasError(v.Diagnostics) {
		return v.Diagnostics
	}
	p, err := s.srv.PlanAction(ctx, &tfprotov6.PlanActionRequest{ActionType: "cephbackup_restore", Config: s.config(args)})
	if err != nil {
		s.t.Fatal(err)
	}
	return p.Diagnostics
}

// invoke runs the action to completion and returns its progress messages and
// the completion's diagnostics.
func (s *actionServer) invoke(args map[string]any) (progress []string, diags []*tfprotov6.Diagnostic) {
	s.t.Helper()
	stream, err := s.srv.InvokeAction(context.Background(), &tfprotov6.InvokeActionRequest{ActionType: "cephbackup_restore", Config: s.config(args)})
	if err != nil {
		s.t.Fatal(err)
	}
	completed := false
	for ev := range stream.Events {
		switch ev := ev.Type.(type) {
		case tfprotov6.ProgressInvokeActionEventType:
			if completed {
				s.t.Errorf("progress after completion: %q", ev.Message)
			}
			progress = append(progress, ev.Message)
		case tfprotov6.CompletedInvokeActionEventType:
			completed = true
			diags = ev.Diagnostics
		}
	}
	if !completed {
		s.t.Fatal("the action sent no completion event")
	}
	return progress, diags
}

var progressLine = regexp.MustCompile(`^restore: [0-9]+\.[0-9]%, [0-9]+ of [0-9]+ bytes \([0-9.]+ MiB of [0-9.]+ MiB\) at [0-9.]+ MiB/s`)

// TestAccRestoreAction_protocol drives the action as Terraform 1.14 does,
// through the provider's protocol server (ValidateActionConfig, PlanAction,
// InvokeAction), against the test clusters: the plan-time checks of the
// resource, a restore into the scribbled-on original volume that equals the
// restore point afterwards, and progress events with bytes, percent and rate.
// It needs no Terraform binary, so it runs wherever the acceptance tests do.
func TestAccRestoreAction_protocol(t *testing.T) {
	e := newAccEnv(t)
	ctx := context.Background()
	img := uniqueImage("act")
	e.src.CreateImage(t, srcPool, img, 96<<20)
	e.src.WriteRandom(t, srcPool, img, 0, 64<<20, 1)
	eng := e.adminEngine()
	rec, err := eng.Backup(ctx, engine.BackupRequest{Pool: srcPool, Image: img, BackupPool: backupPool}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := eng.Delete(ctx, engine.DeleteRequest{BackupPool: backupPool, Pool: srcPool, Image: img, ID: rec.ID, Snapshot: rec.Snapshot}); err != nil {
			t.Error(err)
		}
		_, _ = e.src.RBDErr("rm", "--no-progress", srcPool+"/"+img+"-new")
	})
	pointSum := e.dst.ExportSHA256(t, backupPool+"/"+chain.BackupImageName(img)+"@"+rec.Snapshot)
	if got := e.src.ExportSHA256(t, srcPool+"/"+img+"@"+rec.Snapshot); !sameSum(got, pointSum) {
		t.Fatalf("the restore point %s is not its source snapshot: %s vs %s", rec.Snapshot, pointSum, got)
	}

	s := e.newActionServer(t)
	args := func(extra map[string]any) map[string]any {
		a := map[string]any{"backup_id": rec.ID, "pool": srcPool, "image": img, "backup_pool": backupPool, "target_pool": srcPool, "target_image": img}
		for k, v := range extra {
			a[k] = v
		}
		return a
	}
	expectPlanError := func(what string, a map[string]any, attr string, text string) {
		t.Helper()
		diags := s.plan(a)
		if !hasError(diags) {
			t.Fatalf("%s: the plan passed", what)
		}
		for _, d := range diags {
			if d.Severity == tfprotov6.DiagnosticSeverityError && d.Attribute != nil &&
				d.Attribute.Equal(tftypes.NewAttributePath().WithAttributeName(attr)) && strings.Contains(d.Summary+": "+d.Detail, text) {
				return
			}
		}
		t.Fatalf("%s: no error on %s saying %q in\n%s", what, attr, text, diagText(diags))
	}

	// The resource's checks, at plan time, on the arguments at fault.
	e.src.WriteRandom(t, srcPool, img, 8<<20, 8<<20, 2)
	scribbled := e.src.ExportSHA256(t, srcPool+"/"+img)
	expectPlanError("existing target without force", args(nil), "force", "already exists and force is false")
	expectPlanError("unknown restore point", args(map[string]any{"backup_id": chain.NewID()}), "backup_id", "is not a restore point")
	expectPlanError("bad name", args(map[string]any{"target_image": "a/b"}), "target_image", "Invalid name")
	if got := e.src.ExportSHA256(t, srcPool+"/"+img); !sameSum(got, scribbled) {
		t.Fatal("a refused plan changed the volume")
	}
	if diags := s.plan(args(map[string]any{"force": true, "verify": true})); hasError(diags) {
		t.Fatalf("plan: %s", diagText(diags))
	}

	// Invoked: the volume is the restore point again, and progress was shown.
	progress, diags := s.invoke(args(map[string]any{"force": true, "verify": true}))
	if hasError(diags) {
		t.Fatalf("invoke: %s", diagText(diags))
	}
	t.Logf("progress events:\n  %s", strings.Join(progress, "\n  "))
	if got := e.src.ExportSHA256(t, srcPool+"/"+img); !sameSum(got, pointSum) {
		t.Fatalf("after the action %s has sha256 %s, want the restore point's %s", img, got, pointSum)
	}
	var transfers []string
	for _, m := range progress {
		if progressLine.MatchString(m) {
			transfers = append(transfers, m)
		}
	}
	if len(transfers) == 0 || !strings.HasPrefix(transfers[len(transfers)-1], "restore: 100.0%") {
		t.Fatalf("no transfer progress ending at 100%% among the events:\n%s", strings.Join(progress, "\n"))
	}
	last := progress[len(progress)-1]
	if !strings.Contains(last, "restored backup "+rec.ID+" into "+srcPool+"/"+img) || !strings.Contains(last, "only what differs from snapshot "+rec.Snapshot) ||
		!strings.Contains(last, "verified, sha256 "+pointSum) {
		t.Fatalf("last event does not say what was done: %q", last)
	}

	// Into a new image: created, no force needed.
	progress, diags = s.invoke(args(map[string]any{"target_image": img + "-new"}))
	if hasError(diags) {
		t.Fatalf("invoke into a new image: %s", diagText(diags))
	}
	if got := e.src.ExportSHA256(t, srcPool+"/"+img+"-new"); !sameSum(got, pointSum) {
		t.Fatalf("new image: sha256 %s, want %s", got, pointSum)
	}
	if last := progress[len(progress)-1]; !strings.Contains(last, "(created)") {
		t.Fatalf("last event: %q", last)
	}
}

// TestAccRestoreAction_invokeRestoresOnce runs the action with the real
// Terraform CLI (>= 1.14, from CEPHBACKUP_TERRAFORM_NEWEST): a backup taken
// by a plain apply, the volume scribbled on, `terraform apply -invoke=...`
// restores it with progress in the output, and a later plain apply does not
// restore again.
func TestAccRestoreAction_invokeRestoresOnce(t *testing.T) {
	e := newAccEnv(t)
	tf := newestTerraform(t, "`terraform apply -invoke`")
	img := uniqueImage("inv")
	e.src.CreateImage(t, srcPool, img, 96<<20)
	e.src.WriteRandom(t, srcPool, img, 0, 64<<20, 1)
	w := newWorkspace(t)
	w.terraform = tf
	w.env = append(w.env, "TF_LOG=") // the CLI's own output, as a user sees it
	cfg := e.providerBlock() + fullConfig("w", img) + `
action "cephbackup_restore" "x" {
  config {
    backup_id    = cephbackup_full.w.id
    pool         = "` + srcPool + `"
    image        = "` + img + `"
    backup_pool  = "` + backupPool + `"
    target_pool  = "` + srcPool + `"
    target_image = "` + img + `"
    force        = true
  }
}
`
	t.Cleanup(func() {
		w.write(e.providerBlock())
		if out, err := w.run("apply", "-auto-approve", "-no-color"); err != nil {
			t.Errorf("cleanup apply: %v\n%s", err, tail(out, 20))
		}
		if err := e.checkNoBackupsLeft(t, img)(nil); err != nil {
			t.Error(err)
		}
	})

	w.write(cfg)
	out, err := w.run("apply", "-auto-approve", "-no-color")
	if err != nil {
		t.Fatalf("terraform apply: %v\n%s", err, tail(out, 40))
	}
	snap := w.snapshot("cephbackup_full.w")
	pointSum := e.dst.ExportSHA256(t, backupPool+"/"+chain.BackupImageName(img)+"@"+snap)
	if got := e.src.ExportSHA256(t, srcPool+"/"+img); !sameSum(got, pointSum) {
		t.Fatalf("a plain apply with the action declared changed the volume: %s, want %s", got, pointSum)
	}

	e.src.WriteRandom(t, srcPool, img, 8<<20, 8<<20, 2)
	if got := e.src.ExportSHA256(t, srcPool+"/"+img); got == pointSum {
		t.Fatal("scribbling did not change the volume")
	}
	out, err = w.run("apply", "-invoke=action.cephbackup_restore.x", "-auto-approve", "-no-color")
	if err != nil {
		t.Fatalf("terraform apply -invoke: %v\n%s", err, tail(out, 40))
	}
	t.Logf("terraform apply -invoke output:\n%s", out)
	if got := e.src.ExportSHA256(t, srcPool+"/"+img); !sameSum(got, pointSum) {
		t.Fatalf("after -invoke %s has sha256 %s, want the restore point's %s", img, got, pointSum)
	}
	if !regexp.MustCompile(`restore: [0-9.]+%, [0-9]+ of [0-9]+ bytes \([^)]*\) at [0-9.]+ MiB/s`).MatchString(out) ||
		!strings.Contains(out, "restored backup ") {
		t.Fatalf("the output shows no restore progress:\n%s", out)
	}

	// Once: a later plain apply leaves the volume as it is now.
	e.src.WriteRandom(t, srcPool, img, 32<<20, 4<<20, 3)
	changed := e.src.ExportSHA256(t, srcPool+"/"+img)
	out, err = w.run("apply", "-auto-approve", "-no-color")
	if err != nil {
		t.Fatalf("second terraform apply: %v\n%s", err, tail(out, 40))
	}
	if strings.Contains(out, "restored backup ") {
		t.Fatalf("a plain apply invoked the action:\n%s", out)
	}
	if got := e.src.ExportSHA256(t, srcPool+"/"+img); !sameSum(got, changed) {
		t.Fatalf("a plain apply restored again: %s has sha256 %s, want %s (the volume as changed after the action)", img, got, changed)
	}
}

// TestAccRestoreAction_olderTerraformIgnoresIt: the oldest supported
// Terraform (1.5.7, in `make testacc-oldest`), or OpenTofu, reads the
// provider's schema, action included, without complaint and works as before; an `action` block is
// what it refuses, with its own message, so configurations for it use the
// resource.
func TestAccRestoreAction_olderTerraformIgnoresIt(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("acceptance test: run with `make testacc`")
	}
	w := newWorkspace(t)
	w.env = append(w.env, "TF_LOG=")
	out, err := w.run("version")
	if err != nil {
		t.Fatal(err, out)
	}
	client := regexp.MustCompile(`(Terraform|OpenTofu) v[0-9.]+`).FindString(out)
	if minor, ok := terraformMinor(out); client == "" || ok && minor >= 14 {
		t.Skipf("TF_ACC_TERRAFORM_PATH is neither a Terraform older than 1.14 nor OpenTofu:\n%s", out)
	}
	w.write(`
provider "cephbackup" {}

resource "cephbackup_restore" "r" {
  backup_id    = "6c56bfee-42ef-40af-b97b-9a511ed0384d"
  pool         = "rbd"
  image        = "volume-1234"
  backup_pool  = "backups"
  target_pool  = "rbd"
  target_image = "volume-1234-restored"
}
`)
	if out, err := w.run("validate", "-no-color"); err != nil || !strings.Contains(out, "Success") {
		t.Fatalf("terraform validate with the resource: %v\n%s", err, out)
	}
	out, err = w.run("providers", "schema", "-json")
	if err != nil || !strings.Contains(out, `"cephbackup_restore"`) {
		t.Fatalf("terraform providers schema: %v\n%s", err, tail(out, 20))
	}
	if strings.Contains(out, "action_schemas") {
		t.Fatalf("an older Terraform listed action schemas:\n%s", tail(out, 20))
	}
	w.write(`
action "cephbackup_restore" "x" {
  config {
    backup_id = "6c56bfee-42ef-40af-b97b-9a511ed0384d"
  }
}
`)
	out, err = w.run("validate", "-no-color")
	if err == nil || !strings.Contains(out, `"action"`) {
		t.Fatalf("an older Terraform accepted an action block, or said something else: %v\n%s", err, out)
	}
	t.Logf("an action block, as %s reports it:\n%s", client, tail(out, 6))
}

// terraformMinor is the minor version `terraform version` printed: 14 for 1.14.1.
func terraformMinor(version string) (int, bool) {
	m := regexp.MustCompile(`Terraform v1\.([0-9]+)\.`).FindStringSubmatch(version)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil
}

// TestRestoreAction_docsMatchSchema: tfplugindocs renders an action's schema
// only with a Terraform that knows actions, which the docs are not generated
// with, so the action's page (templates/actions/restore.md.tmpl) carries its
// schema section written out; it must be what tfplugindocs would render.
func TestRestoreAction_docsMatchSchema(t *testing.T) {
	var ar action.SchemaResponse
	NewRestoreAction().Schema(context.Background(), action.SchemaRequest{}, &ar)
	var required, optional []string
	for name, a := range ar.Schema.Attributes {
		typ := map[bool]string{true: "String", false: "Boolean"}[a.GetType().Equal(types.StringType)]
		line := "- `" + name + "` (" + typ + ") " + a.GetMarkdownDescription()
		if a.IsRequired() {
			required = append(required, line)
		} else {
			optional = append(optional, line)
		}
	}
	optional = append(optional, "- `timeouts` (Block, Optional) (see [below for nested schema](#nestedblock--timeouts))")
	slices.Sort(required)
	slices.Sort(optional)
	invoke := ar.Schema.Blocks["timeouts"].(actionschema.SingleNestedBlock).Attributes["invoke"]
	want := "## Schema\n\n### Required\n\n" + strings.Join(required, "\n") + "\n\n### Optional\n\n" + strings.Join(optional, "\n") +
		"\n\n<a id=\"nestedblock--timeouts\"></a>\n### Nested Schema for `timeouts`\n\nOptional:\n\n- `invoke` (String) " + invoke.GetDescription() + "\n"
	page, err := os.ReadFile("../../templates/actions/restore.md.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	_, got, ok := strings.Cut(string(page), "## Schema\n")
	if !ok || "## Schema\n"+got != want {
		t.Fatalf("the schema section of templates/actions/restore.md.tmpl is not the action's schema; it should end with:\n\n%s", want)
	}
	if !strings.Contains(string(page), "\n"+ar.Schema.MarkdownDescription+"\n") {
		t.Fatalf("templates/actions/restore.md.tmpl does not carry the action's description:\n\n%s", ar.Schema.MarkdownDescription)
	}
}

// The action's example, run where the volume has no restore point yet, fails
// the plan with its own message (the data source's postcondition) instead of
// an index error on an empty list.
func TestAccExamples_actionExampleSaysWhenThereIsNothingToRestore(t *testing.T) {
	e := newAccEnv(t)
	w := newWorkspace(t)
	w.terraform = newestTerraform(t, "the action block of the example")
	w.env = append(w.env, "TF_LOG=")
	example, err := os.ReadFile("../../examples/actions/cephbackup_restore/action.tf")
	if err != nil {
		t.Fatal(err)
	}
	img := uniqueImage("nothing")
	example = bytes.ReplaceAll(example, []byte("volume-1234"), []byte(img))
	if err := os.WriteFile(filepath.Join(w.dir, "action.tf"), example, 0o600); err != nil {
		t.Fatal(err)
	}
	w.write(e.providerBlock())
	out, err := w.run("plan", "-no-color")
	if err == nil || !wrapped(img+" has no restore point in pool backups: there is nothing to restore").MatchString(out) || strings.Contains(out, "Invalid index") {
		t.Fatalf("plan of the action example with no restore point: err %v, want the postcondition's message:\n%s", err, out)
	}
}
