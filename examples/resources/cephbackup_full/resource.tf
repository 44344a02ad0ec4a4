# A full backup of rbd/volume-1234 into the "backups" pool of the backup cluster.
resource "cephbackup_full" "weekly" {
  pool        = "rbd"
  image       = "volume-1234"
  backup_pool = "backups"

  # A 20 TiB volume over a slow link may take longer than the 6 h default.
  timeouts {
    create = "12h"
  }
}
