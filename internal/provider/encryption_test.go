package provider

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ceph/go-ceph/rbd"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
)

// withPassphrase adds backup_encryption_passphrase to a provider block.
func withPassphrase(block, passphrase string) string {
	return strings.Replace(block, "provider \"cephbackup\" {", fmt.Sprintf("provider \"cephbackup\" {\n  backup_encryption_passphrase = %q", passphrase), 1)
}

// Backups encrypted at rest, through Terraform: a full and a verified
// incremental, restored exact (checked with `rbd export`), the backup
// cluster holding a LUKS2 image with no plaintext in it; a workspace
// without the passphrase, or with a wrong one, gets a diagnostic and
// changes nothing.
func TestAccEncryption_atRestThroughTerraform(t *testing.T) {
	e := newAccEnv(t)
	img := uniqueImage("enc")
	marker := []byte("CEPHBACKUP-PROVIDER-PLAINTEXT:")
	e.src.CreateImage(t, srcPool, img, 24<<20)
	e.src.WriteRandom(t, srcPool, img, 0, 6<<20, 1)
	if err := e.src.OnImage(srcPool, img, func(i *rbd.Image) error {
		_, err := i.WriteAt(bytes.Repeat(marker, 1000), 9<<20+17)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	const pass = "a passphrase the backup cluster never sees"
	target, refused := img+"-restored", img+"-refused"
	chained := fullConfig("f", img) + verified(incrementalConfig("i", "cephbackup_full.f.id", img))
	withRestore := chained + restoreConfig("r", "cephbackup_incremental.i.id", img, target, "delete_target_on_destroy = true")
	another := restoreConfig("refused", "cephbackup_incremental.i.id", img, refused, "")
	backupImage := backupPool + "/" + chain.BackupImageName(img)
	var incrSum string

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy: func(s *terraform.State) error {
			if e.src.ImageExists(t, srcPool, target) || e.src.ImageExists(t, srcPool, refused) {
				return fmt.Errorf("a restored or refused image survived the destroy")
			}
			return e.checkNoBackupsLeft(t, img)(s)
		},
		Steps: []resource.TestStep{
			{
				Config: withPassphrase(e.providerBlock(), pass) + fullConfig("f", img),
				Check: func(s *terraform.State) error {
					if out := e.dst.RBD(t, "image-meta", "get", backupImage, chain.EncryptionKey); !strings.Contains(out, chain.LUKS2) {
						return fmt.Errorf("rbd image-meta get %s %s: %q, want the luks2 mark", backupImage, chain.EncryptionKey, out)
					}
					snap, err := stateAttr(s, "cephbackup_full.f", "snapshot")
					if err != nil {
						return err
					}
					exported := filepath.Join(t.TempDir(), "point")
					e.dst.RBD(t, "export", "--no-progress", backupImage+"@"+snap, exported)
					raw, err := os.ReadFile(exported)
					if err != nil {
						return err
					}
					if bytes.Contains(raw, marker) || !bytes.HasPrefix(raw, []byte("LUKS\xba\xbe")) {
						return fmt.Errorf("rbd export of %s@%s is not LUKS ciphertext (plaintext marker found: %v)", backupImage, snap, bytes.Contains(raw, marker))
					}
					return nil
				},
			},
			{
				PreConfig: func() {
					e.src.WriteRandom(t, srcPool, img, 12<<20, 1<<20, 2)
					e.src.Discard(t, srcPool, img, 1<<20, 64<<10)
				},
				Config: withPassphrase(e.providerBlock(), pass) + withRestore,
				Check: resource.ComposeAggregateTestCheckFunc(
					func(s *terraform.State) error {
						snap, err := stateAttr(s, "cephbackup_incremental.i", "snapshot")
						if err != nil {
							return err
						}
						incrSum = e.src.ExportSHA256(t, srcPool+"/"+img+"@"+snap)
						if got := e.src.ExportSHA256(t, srcPool+"/"+target); !sameSum(got, incrSum) {
							return fmt.Errorf("restored %s: sha256 %s, want the incremental's source snapshot %s", target, got, incrSum)
						}
						return nil
					},
					// verify = true: the recorded checksum is the plaintext's.
					func(s *terraform.State) error {
						got, err := stateAttr(s, "cephbackup_incremental.i", "sha256")
						if err != nil {
							return err
						}
						if got != incrSum {
							return fmt.Errorf("incremental sha256 %q, want the plaintext's %s", got, incrSum)
						}
						return nil
					},
				),
			},
			{
				Config:      e.providerBlock() + withRestore + another,
				ExpectError: regexp.MustCompile(`(?s)is encrypted at rest.*backup_encryption_passphrase`),
			},
			{
				Config:      withPassphrase(e.providerBlock(), "not the passphrase") + withRestore + another,
				ExpectError: regexp.MustCompile(`(?s)wrong.*backup_encryption_passphrase`),
			},
			{
				Config: withPassphrase(e.providerBlock(), pass) + withRestore,
				Check: func(*terraform.State) error {
					if e.src.ImageExists(t, srcPool, refused) {
						return fmt.Errorf("a refused restore left %s", refused)
					}
					return nil
				},
			},
		},
	})
}
