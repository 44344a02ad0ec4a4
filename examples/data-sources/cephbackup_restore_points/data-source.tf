# Every restore point of rbd/volume-1234 that the backup cluster holds, oldest first.
data "cephbackup_restore_points" "vol" {
  pool        = "rbd"
  image       = "volume-1234"
  backup_pool = "backups"
}

output "newest_restore_point" {
  value = try(data.cephbackup_restore_points.vol.restore_points[length(data.cephbackup_restore_points.vol.restore_points) - 1], null)
}
