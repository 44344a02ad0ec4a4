package provider

import (
	"context"
	"testing"
	"time"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// configure runs the provider's Configure with cluster (nil: block omitted)
// and env as its environment, as Terraform would before a plan.
func configure(t *testing.T, cluster map[string]string, env map[string]string) (*engine.Engine, provider.ConfigureResponse) {
	t.Helper()
	ctx := context.Background()
	p := &cephbackupProvider{version: "test", getenv: func(k string) string { return env[k] }}
	var sresp provider.SchemaResponse
	p.Schema(ctx, provider.SchemaRequest{}, &sresp)
	typ := sresp.Schema.Type().TerraformType(ctx).(tftypes.Object)
	attrs := map[string]tftypes.Value{}
	for name, at := range typ.AttributeTypes {
		attrs[name] = tftypes.NewValue(at, nil)
	}
	if cluster != nil {
		ct := typ.AttributeTypes["cluster"].(tftypes.Object)
		cv := map[string]tftypes.Value{}
		for name, at := range ct.AttributeTypes {
			cv[name] = tftypes.NewValue(at, nil)
			if v, ok := cluster[name]; ok {
				cv[name] = tftypes.NewValue(at, v)
			}
		}
		attrs["cluster"] = tftypes.NewValue(ct, cv)
	}
	req := provider.ConfigureRequest{Config: tfsdk.Config{Schema: sresp.Schema, Raw: tftypes.NewValue(typ, attrs)}}
	var resp provider.ConfigureResponse
	p.Configure(ctx, req, &resp)
	eng, _ := resp.ResourceData.(*engine.Engine)
	return eng, resp
}

// Configure must not connect: Terraform configures the provider for plans
// and for data that never reach a cluster, and the no-cluster tests
// (validation_test.go) rely on it. No monitor listens on port 9, so a
// connection attempt would fail or take the whole timeout.
func TestConfigure_connectsLazily(t *testing.T) {
	start := time.Now()
	eng, resp := configure(t, map[string]string{"mon_host": "127.0.0.1:9", "user": "u", "timeout": "5s"}, nil)
	if resp.Diagnostics.HasError() {
		t.Fatalf("Configure failed: %v", resp.Diagnostics)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Configure took %v: it waited for a monitor", took)
	}
	if eng == nil || eng.SourceCluster != eng.BackupCluster {
		t.Fatalf("want one engine whose backup cluster is the source cluster, got %+v", eng)
	}
}

// Settings missing from the provider block come from the environment
// (CEPH_* for cluster, CEPHBACKUP_BACKUP_* for backup_cluster); the block wins.
func TestConfigure_environmentFallbacks(t *testing.T) {
	env := map[string]string{
		"CEPH_MON_HOST": "127.0.0.1:9", "CEPH_USER": "from-env",
		"CEPHBACKUP_BACKUP_MON_HOST": "127.0.0.2:9", "CEPHBACKUP_BACKUP_USER": "backup-from-env",
	}
	for _, c := range []struct {
		name                string
		cluster             map[string]string
		wantSrc, wantBackup string
	}{
		{"block omitted", nil, "from-env", "backup-from-env"},
		{"block sets user", map[string]string{"user": "from-block"}, "from-block", "backup-from-env"},
	} {
		t.Run(c.name, func(t *testing.T) {
			eng, resp := configure(t, c.cluster, env)
			if resp.Diagnostics.HasError() {
				t.Fatalf("Configure failed: %v", resp.Diagnostics)
			}
			if got := eng.SourceCluster.User(); got != c.wantSrc {
				t.Errorf("cluster user = %q, want %q", got, c.wantSrc)
			}
			if eng.BackupCluster == eng.SourceCluster {
				t.Fatal("CEPHBACKUP_BACKUP_MON_HOST is set but the backup cluster is the source cluster")
			}
			if got := eng.BackupCluster.User(); got != c.wantBackup {
				t.Errorf("backup_cluster user = %q, want %q", got, c.wantBackup)
			}
		})
	}
}

// Without a user anywhere the provider warns that it connects as admin.
func TestConfigure_adminWarning(t *testing.T) {
	_, resp := configure(t, map[string]string{"mon_host": "127.0.0.1:9"}, nil)
	if resp.Diagnostics.WarningsCount() != 1 || resp.Diagnostics.Warnings()[0].Summary() != "Connecting as client.admin" {
		t.Fatalf("want the client.admin warning, got %v", resp.Diagnostics)
	}
}

// The passphrase comes from the provider block, else from
// CEPHBACKUP_BACKUP_ENCRYPTION_PASSPHRASE; with neither, backups are plaintext.
func TestConfigure_encryptionPassphraseFallsBackToTheEnvironment(t *testing.T) {
	cluster := map[string]string{"mon_host": "127.0.0.1:9", "user": "u"}
	eng, resp := configure(t, cluster, nil)
	if resp.Diagnostics.HasError() || eng.Encryption != nil {
		t.Fatalf("without a passphrase: encryption %+v, diagnostics %v", eng.Encryption, resp.Diagnostics)
	}
	eng, resp = configure(t, cluster, map[string]string{passphraseEnv: "from-env"})
	if resp.Diagnostics.HasError() || eng.Encryption == nil || string(eng.Encryption.Passphrase) != "from-env" {
		t.Fatalf("with %s: encryption %+v, diagnostics %v", passphraseEnv, eng.Encryption, resp.Diagnostics)
	}
}
