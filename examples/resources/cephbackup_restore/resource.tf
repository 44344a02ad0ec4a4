# A restore kept as a resource: the restored image is managed, and this works on
# every Terraform and OpenTofu. The resource restores when it is created or
# replaced, so backup_id is pinned: the id chosen for the incident
# (data.cephbackup_restore_points lists them), never an expression that follows
# the newest restore point, which the next backup would change. To restore once
# with Terraform >= 1.14, use the cephbackup_restore action.
resource "cephbackup_restore" "before_upgrade" {
  backup_id    = "6c56bfee-42ef-40af-b97b-9a511ed0384d"
  pool         = "rbd"
  image        = "volume-1234"
  backup_pool  = "backups"
  target_pool  = "rbd"
  target_image = "volume-1234-before-upgrade"

  delete_target_on_destroy = true
}

# Restore into the live volume itself (force), e.g. from a variable set for the
# incident. Should backup_id change later, the plan warns and the apply fails
# rather than overwriting the volume again, unless overwrite_on_replace = true.
variable "incident_backup_id" {
  type    = string
  default = null
}

resource "cephbackup_restore" "incident" {
  count = var.incident_backup_id == null ? 0 : 1

  backup_id    = var.incident_backup_id
  pool         = "rbd"
  image        = "volume-1234"
  backup_pool  = "backups"
  target_pool  = "rbd"
  target_image = "volume-1234"
  force        = true
}
