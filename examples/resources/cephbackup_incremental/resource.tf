resource "cephbackup_full" "weekly" {
  pool        = "rbd"
  image       = "volume-1234"
  backup_pool = "backups"
}

# Referencing the parent's id makes Terraform create the parent first and
# destroy the child first.
resource "cephbackup_incremental" "monday" {
  parent_id   = cephbackup_full.weekly.id
  pool        = "rbd"
  image       = "volume-1234"
  backup_pool = "backups"
}

resource "cephbackup_incremental" "tuesday" {
  parent_id   = cephbackup_incremental.monday.id
  pool        = "rbd"
  image       = "volume-1234"
  backup_pool = "backups"
}
