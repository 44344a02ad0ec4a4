# Every volume of pool "rbd" that has backups in "backups".
data "cephbackup_backed_up_images" "rbd" {
  backup_pool = "backups"
  pool        = "rbd"
}

# Restore the whole pool onto a replacement cluster, each volume from its
# newest restore point, without listing the volumes by hand. This belongs in
# a recovery-only configuration that takes no backups; and without force, a
# restore never overwrites an existing image (a later, replaced restore fails
# at plan instead). Pin the ids once the restores are done.
resource "cephbackup_restore" "pool" {
  for_each = { for i in data.cephbackup_backed_up_images.rbd.images : i.image => i if i.restore_points > 0 }

  backup_id    = each.value.newest_id
  pool         = each.value.pool
  image        = each.value.image
  backup_pool  = "backups"
  target_pool  = "rbd"
  target_image = each.value.image
}
