# A full backup of rbd/volume-1234 into the "backups" pool of the backup cluster.
resource "cephbackup_full" "weekly" {
  pool        = "rbd"
  image       = "volume-1234"
  backup_pool = "backups"

  timeouts {
    create = "2h"
  }
}
