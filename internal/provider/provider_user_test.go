package provider

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/cephconn"
)

// Falling back to client.admin is never silent: it warns on the attribute,
// and only when neither the configuration nor the environment names a user.
func TestClusterConfig_adminFallbackWarns(t *testing.T) {
	for _, tc := range []struct {
		name     string
		user     types.String
		env      map[string]string
		wantUser string
		warns    bool
	}{
		{"nothing set", types.StringNull(), nil, "admin", true},
		{"user set", types.StringValue("backup-src"), nil, "backup-src", false},
		{"admin set on purpose", types.StringValue("admin"), nil, "admin", false},
		{"user from the environment", types.StringNull(), map[string]string{"CEPH_USER": "client.ci"}, "ci", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &cephbackupProvider{getenv: func(k string) string { return tc.env[k] }}
			var diags diag.Diagnostics
			cfg, ok := p.clusterConfig("cluster", &clusterModel{MonHost: types.StringValue("10.0.0.1"), User: tc.user, Key: types.StringValue("AQAAAAAAAAAAABAAAAAAAAAAAAAAAAAAAAAAAA==")},
				cephconn.SourceEnv, &diags)
			if !ok || diags.HasError() {
				t.Fatalf("config refused: %v", diags)
			}
			if cfg.User != tc.wantUser {
				t.Fatalf("user %q, want %q", cfg.User, tc.wantUser)
			}
			warned := diags.WarningsCount() == 1 && strings.Contains(diags.Warnings()[0].Detail(), "client.admin")
			if warned != tc.warns {
				t.Fatalf("warned = %v, want %v (diagnostics %v)", warned, tc.warns, diags)
			}
		})
	}
}

// key and keyring in the same block are refused, on the key; a keyring from
// the environment beside a key in the block is not a conflict (the block wins).
func TestClusterConfig_keyAndKeyringConflict(t *testing.T) {
	key := types.StringValue("AQAAAAAAAAAAABAAAAAAAAAAAAAAAAAAAAAAAA==")
	keyring := filepath.Join(t.TempDir(), "ceph.client.u.keyring")
	if err := os.WriteFile(keyring, []byte("[client.u]\n\tkey = AQAAAAAAAAAAABAAAAAAAAAAAAAAAAAAAAAAAA==\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &cephbackupProvider{getenv: func(k string) string { return map[string]string{"CEPH_KEYRING": keyring}[k] }}
	var diags diag.Diagnostics
	_, ok := p.clusterConfig("cluster", &clusterModel{MonHost: types.StringValue("10.0.0.1"), User: types.StringValue("u"),
		Key: key, Keyring: types.StringValue(keyring)}, cephconn.SourceEnv, &diags)
	if ok || !diags.HasError() || !strings.Contains(diags.Errors()[0].Summary(), "Both key and keyring") {
		t.Fatalf("key and keyring in one block: ok=%v, diagnostics %v", ok, diags)
	}
	diags = nil
	if _, ok := p.clusterConfig("cluster", &clusterModel{MonHost: types.StringValue("10.0.0.1"), User: types.StringValue("u"), Key: key},
		cephconn.SourceEnv, &diags); !ok || diags.HasError() {
		t.Fatalf("key in the block, keyring in the environment: refused: %v", diags)
	}
}
