# Terraform 1.14 or later. After an incident on volume-1234, bring back its
# newest restore point, once:
#
#   terraform apply -invoke=action.cephbackup_restore.newest
#
# A plain `terraform apply` never runs it, so newer backups do not restore
# again. The volume keeps the newest backup's snapshot, so only what differs
# travels.
data "cephbackup_restore_points" "vol" {
  pool        = "rbd"
  image       = "volume-1234"
  backup_pool = "backups"

  # Without a restore point, "the newest" does not exist: say so, instead
  # of the index error the expression below would give.
  lifecycle {
    postcondition {
      condition     = length(self.restore_points) > 0
      error_message = "volume-1234 has no restore point in pool backups: there is nothing to restore. Check the image and backup_pool, or take a backup first."
    }
  }
}

action "cephbackup_restore" "newest" {
  config {
    backup_id    = data.cephbackup_restore_points.vol.restore_points[length(data.cephbackup_restore_points.vol.restore_points) - 1].id
    pool         = "rbd"
    image        = "volume-1234"
    backup_pool  = "backups"
    target_pool  = "rbd"
    target_image = "volume-1234"
    force        = true # overwrite the volume itself
    verify       = true
  }
}
