# An instant restore for a DR drill or an inspection: the restore point is
# usable as the image backups/volume-1234-drill on the backup cluster within a
# second, whatever its size. Boot a VM from it (rbd:backups/volume-1234-drill),
# then set flatten = true to make it independent of the restore point while
# the VM keeps running.
resource "cephbackup_clone" "drill" {
  backup_id    = "6c56bfee-42ef-40af-b97b-9a511ed0384d"
  image        = "volume-1234"
  backup_pool  = "backups"
  target_pool  = "backups"
  target_image = "volume-1234-drill"
  flatten      = false
}
