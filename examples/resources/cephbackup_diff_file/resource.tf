resource "cephbackup_full" "weekly" {
  pool        = "rbd"
  image       = "volume-1234"
  backup_pool = "backups"
}

resource "cephbackup_incremental" "monday" {
  parent_id   = cephbackup_full.weekly.id
  pool        = "rbd"
  image       = "volume-1234"
  backup_pool = "backups"
}

# Off-cluster copies: the full restore point, then Monday's changes since it.
# Restore with: rbd import-diff weekly.diff rbd/volume-1234-copy && rbd import-diff monday.diff rbd/volume-1234-copy
resource "cephbackup_diff_file" "weekly" {
  backup_id   = cephbackup_full.weekly.id
  pool        = "rbd"
  image       = "volume-1234"
  backup_pool = "backups"
  path        = "/srv/offsite/volume-1234/weekly.diff"
}

resource "cephbackup_diff_file" "monday" {
  backup_id      = cephbackup_incremental.monday.id
  from_backup_id = cephbackup_full.weekly.id
  pool           = "rbd"
  image          = "volume-1234"
  backup_pool    = "backups"
  path           = "/srv/offsite/volume-1234/monday.diff"
}
