# Every restore point of rbd/volume-1234 that the backup cluster holds, oldest first.
data "cephbackup_restore_points" "vol" {
  pool        = "rbd"
  image       = "volume-1234"
  backup_pool = "backups"
}

# The newest weekly full taken in November, selected by its labels.
data "cephbackup_restore_points" "last_weekly" {
  pool           = "rbd"
  image          = "volume-1234"
  backup_pool    = "backups"
  labels         = { tier = "weekly" }
  kind           = "full"
  created_after  = "2026-11-01T00:00:00Z"
  created_before = "2026-12-01T00:00:00Z"
  most_recent    = true
}

output "newest_restore_point" {
  value = try(data.cephbackup_restore_points.vol.restore_points[length(data.cephbackup_restore_points.vol.restore_points) - 1], null)
}

output "last_weekly_id" {
  value = data.cephbackup_restore_points.last_weekly.restore_point.id
}
