package provider

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/action/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/action"
	"github.com/hashicorp/terraform-plugin-framework/action/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/transfer"
)

var (
	_ action.ActionWithConfigure  = &restoreAction{}
	_ action.ActionWithModifyPlan = &restoreAction{}
)

// NewRestoreAction is the cephbackup_restore action: the restore of the
// cephbackup_restore resource, run once when invoked and never again by
// itself. Terraform >= 1.14 only; older clients ignore action schemas.
func NewRestoreAction() action.Action { return &restoreAction{} }

type restoreAction struct {
	engine *engine.Engine
}

type restoreActionModel struct {
	restoreArgs
	Timeouts timeouts.Value `tfsdk:"timeouts"`
}

func (a *restoreAction) Metadata(_ context.Context, req action.MetadataRequest, resp *action.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_restore"
}

func (a *restoreAction) Configure(_ context.Context, req action.ConfigureRequest, resp *action.ConfigureResponse) {
	a.engine = engineFrom(req.ProviderData, &resp.Diagnostics)
}

func (a *restoreAction) Schema(ctx context.Context, _ action.SchemaRequest, resp *action.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Restores a restore point from the backup cluster into an image on `cluster`, once, when invoked: " +
			"`terraform apply -invoke=action.cephbackup_restore.<name>`. A plain `terraform apply` never runs it, so a restore does not happen again " +
			"when a newer backup is taken or the configuration changes. It does what the `cephbackup_restore` resource does when created " +
			"(same arguments, same checks at plan time, same restore), shows the transfer's progress, and keeps no state. " +
			"Needs Terraform 1.14 or later; with older Terraform and with OpenTofu, which do not know actions, use the resource.",
		Attributes: map[string]schema.Attribute{
			"backup_id": schema.StringAttribute{Required: true, MarkdownDescription: restoreArgDocs["backup_id"],
				Validators: []validator.String{backupIDValidator}},
			"force":  schema.BoolAttribute{Optional: true, MarkdownDescription: restoreArgDocs["force"] + " Default false."},
			"verify": schema.BoolAttribute{Optional: true, MarkdownDescription: restoreArgDocs["verify"] + " Default false."},
		},
		Blocks: map[string]schema.Block{"timeouts": timeouts.BlockWithOpts(ctx, timeouts.Opts{
			InvokeDescription: fmt.Sprintf("How long the restore may take, as a duration (`30m`, `2h`). Default: `%s`.", durationString(defaultCreateTimeout)),
		})},
	}
	for _, name := range restoreNameArgs {
		resp.Schema.Attributes[name] = schema.StringAttribute{Required: true, MarkdownDescription: restoreArgDocs[name],
			Validators: []validator.String{nameValidator}}
	}
	for name, check := range map[string]validator.String{
		"namespace": namespaceValidator, "backup_namespace": inheritedNamespaceValidator, "target_namespace": namespaceValidator,
	} {
		resp.Schema.Attributes[name] = schema.StringAttribute{Optional: true, MarkdownDescription: restoreArgDocs[name] + namespaceDocs,
			Validators: []validator.String{check}}
	}
}

// ModifyPlan runs the resource's plan-time check, so that a wrong id or an
// existing target without force fails `terraform plan -invoke=...` and the
// plan of `terraform apply -invoke=...`, before anything is written.
func (a *restoreAction) ModifyPlan(ctx context.Context, req action.ModifyPlanRequest, resp *action.ModifyPlanResponse) {
	var config restoreActionModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	checkRestore(ctx, a.engine, config.restoreArgs, &resp.Diagnostics)
}

func (a *restoreAction) Invoke(ctx context.Context, req action.InvokeRequest, resp *action.InvokeResponse) {
	var config restoreActionModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if a.engine == nil {
		resp.Diagnostics.AddError("Provider not configured", "The cephbackup provider was not configured before the action was invoked. This is a bug in the provider; please report it.")
		return
	}
	invokeCtx, cancel, ok := withTimeout(ctx, config.Timeouts.Invoke, defaultCreateTimeout, &resp.Diagnostics)
	if !ok {
		return
	}
	defer cancel()

	progress := startProgress(resp.SendProgress)
	defer progress.stop(ctx)
	eng := a.engine.WithProgress(func(op string, p transfer.Progress) { progress.send(progressMessage(op, p)) })
	r := config.request()
	progress.send(fmt.Sprintf("restoring backup %s of %s/%s (backup pool %s) into %s", r.BackupID, r.Pool, r.Image, r.BackupPool, config.target()))

	res, err := eng.Restore(invokeCtx, r)
	if err != nil {
		restoreFailed(config.restoreArgs, err, &resp.Diagnostics)
		return
	}
	progress.send(restoredMessage(config.target(), res))
}

// progressMessage is one transfer progress event as the user reads it.
func progressMessage(op string, p transfer.Progress) string {
	msg := fmt.Sprintf("%s: %.1f%%, %d of %d bytes (%s of %s) at %.1f MiB/s", op, p.Percent(), p.Done, p.Total, mib(p.Done), mib(p.Total), p.Rate()/(1<<20))
	if eta := p.ETA().Round(time.Second); eta > 0 {
		msg += ", about " + durationString(eta) + " left"
	}
	return msg
}

// restoredMessage says what a finished restore did.
func restoredMessage(target string, res engine.RestoreResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "restored backup %s into %s: %s image", res.Record.ID, target, mib(res.Record.Size))
	if res.CreatedTarget {
		b.WriteString(" (created)")
	}
	fmt.Fprintf(&b, ", %d bytes written", res.RestoredBytes)
	if res.BaseSnapshot != "" {
		fmt.Fprintf(&b, " (only what differs from snapshot %s)", res.BaseSnapshot)
	}
	if res.SHA256 != "" {
		fmt.Fprintf(&b, "; verified, sha256 %s", res.SHA256)
	}
	return b.String()
}

// progressSender hands messages to the action's SendProgress without ever
// blocking the restore: SendProgress waits until Terraform has taken the
// message, and a transfer must not stall behind it.
type progressSender struct {
	queue chan string
	done  chan struct{}
}

func startProgress(send func(action.InvokeProgressEvent)) *progressSender {
	p := &progressSender{queue: make(chan string, 64), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for msg := range p.queue {
			if send != nil {
				send(action.InvokeProgressEvent{Message: msg})
			}
		}
	}()
	return p
}

// send queues msg. Transfer progress comes at most every tenth of the work
// and every few seconds, so the queue does not fill while Terraform reads;
// if it does, msg is dropped rather than the transfer held up.
func (p *progressSender) send(msg string) {
	select {
	case p.queue <- msg:
	default:
	}
}

// stop waits until the queued messages have reached Terraform, so they come
// before the action's completion; or until ctx ends (Terraform is gone).
func (p *progressSender) stop(ctx context.Context) {
	close(p.queue)
	select {
	case <-p.done:
	case <-ctx.Done():
	}
}

func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// durationString prints d rounded to the second, without zero units: 6h, 1m30s.
func durationString(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
