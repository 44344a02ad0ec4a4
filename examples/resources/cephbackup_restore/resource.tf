# A restore kept as a resource: the restored image is managed (deleted on
# destroy here), and this works on every Terraform and OpenTofu. The resource
# restores when it is created or replaced, so pin backup_id to one restore
# point (from data.cephbackup_restore_points): an expression that follows the
# newest point would restore again after every backup. To restore once with
# Terraform >= 1.14, use the cephbackup_restore action.
resource "cephbackup_restore" "before_upgrade" {
  backup_id    = "6c56bfee-42ef-40af-b97b-9a511ed0384d"
  pool         = "rbd"
  image        = "volume-1234"
  backup_pool  = "backups"
  target_pool  = "rbd"
  target_image = "volume-1234-before-upgrade"

  delete_target_on_destroy = true
}
