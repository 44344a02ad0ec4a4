# The restore points of an image that a Benji-style rule keeps: the three
# newest, then the oldest of each of the last 7 days, 4 weeks and 12 months.
data "cephbackup_restore_points" "volume" {
  pool        = "rbd"
  image       = "volume-1234"
  backup_pool = "backups"
}

locals {
  points  = data.cephbackup_restore_points.volume.restore_points
  created = [for p in local.points : p.created_at]
  keep    = provider::cephbackup::retain(plantimestamp(), "latest3,days7,weeks4,months12", local.created)
}

output "ids_to_keep" {
  value = [for p in local.points : p.id if contains(local.keep, p.created_at)]
}

# Period keys work too: ["2026-w48", "2026-w47"] on 2026-11-28.
output "weeks_to_keep" {
  value = provider::cephbackup::retain("2026-11-28T06:00:00Z", "weeks2", ["2026-w45", "2026-w46", "2026-w47", "2026-w48"])
}
