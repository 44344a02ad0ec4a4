package cephconn_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/cephconn"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/testcluster"
)

// The options the provider relies on are pinned on its connections after
// the config file is read, so a ceph.conf that says otherwise cannot turn
// them off. rbd_blocklist_on_break_lock=true: breaking a dead client's
// exclusive lock first blocklists it, so its late writes cannot land after
// the lock changed hands.
func TestAccClientPinsOptionsOverConfigFile(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("acceptance test: run with `make testacc`")
	}
	src := testcluster.Get(t, "source")
	conf, err := os.ReadFile(src.ConfFile)
	if err != nil {
		t.Fatal(err)
	}
	pinned := map[string]string{
		"rbd_blocklist_on_break_lock":        "true",
		"rbd_skip_partial_discard":           "false",
		"rbd_cache_writethrough_until_flush": "true",
	}
	conf = append(conf, "\n[client]\n"...)
	for opt, want := range pinned {
		opposite := "true"
		if want == "true" {
			opposite = "false"
		}
		conf = append(conf, "\t"+opt+" = "+opposite+"\n"...)
	}
	path := filepath.Join(t.TempDir(), "ceph.conf")
	if err := os.WriteFile(path, conf, 0o600); err != nil {
		t.Fatal(err)
	}

	cfg := src.AdminConfig()
	cfg.ConfigFile = path
	c := cephconn.NewClient("cluster", cfg)
	defer c.Close()
	conn, err := c.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for opt, want := range pinned {
		got, err := conn.GetConfigOption(opt)
		if err != nil {
			t.Fatalf("reading %s: %v", opt, err)
		}
		if got != want {
			t.Errorf("%s = %s on the provider's connection (the config file says otherwise), want %s", opt, got, want)
		}
	}
}

// ms_mode and options reach the connection, under Ceph's own names.
func TestAccClientSetsMsModeAndOptions(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("acceptance test: run with `make testacc`")
	}
	cfg := testcluster.Get(t, "source").AdminConfig()
	cfg.MsMode = "prefer-secure"
	cfg.Options = map[string]string{"ms-connection-ready-timeout": "17"}
	c := cephconn.NewClient("cluster", cfg)
	defer c.Close()
	conn, err := c.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for opt, want := range map[string]string{"ms_client_mode": "secure crc", "ms_mon_client_mode": "secure crc", "ms_connection_ready_timeout": "17"} {
		if got, err := conn.GetConfigOption(opt); err != nil || got != want {
			t.Errorf("%s = %q (%v) on the connection, want %q", opt, got, err, want)
		}
	}
}
