data "cephbackup_restore_points" "vol" {
  pool        = "rbd"
  image       = "volume-1234"
  backup_pool = "backups"
}

# Restore the newest restore point into a new image next to the original.
resource "cephbackup_restore" "latest" {
  backup_id    = data.cephbackup_restore_points.vol.restore_points[length(data.cephbackup_restore_points.vol.restore_points) - 1].id
  pool         = "rbd"
  image        = "volume-1234"
  backup_pool  = "backups"
  target_pool  = "rbd"
  target_image = "volume-1234-restored"
}
