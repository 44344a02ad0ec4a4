# A complete disaster-recovery plan for one volume: weekly full backups with
# daily incrementals on a second cluster, a lookup of the restore points the
# backup cluster holds, and a restore of one of them.
#
# Normal days: list the backed-up days in var.weeks and apply.
# Incident:    set restore_backup_id to the restore point to bring back (see the
#              restore_points output; newest_id is the newest), apply.
# Disaster:    point var.cluster at the replacement cluster as well.
#
# The restore is a resource, pinned to the id it was given, so this plan runs
# on every Terraform >= 1.5 and OpenTofu: a later backup does not change it and
# does not restore again. With Terraform >= 1.14, the cephbackup_restore
# action restores once without a resource (examples/actions/cephbackup_restore).
terraform {
  required_providers {
    cephbackup = {
      source = "cephbackup/cephbackup"
    }
  }
}

variable "cluster" {
  description = "Where the volume lives (or, in a disaster, the cluster that replaces it)."
  type = object({
    mon_host = string
    user     = string
    key      = string
  })
  sensitive = true
}

variable "backup_cluster" {
  description = "The cluster that holds the backups."
  type = object({
    mon_host = string
    user     = string
    key      = string
  })
  sensitive = true
}

variable "pool" {
  type    = string
  default = "rbd"
}

variable "image" {
  type    = string
  default = "volume-1234"
}

variable "backup_pool" {
  type    = string
  default = "backups"
}

variable "weeks" {
  description = "Week => days of that week backed up incrementally, in order."
  type        = map(list(string))
  default     = { "2026-w48" = [] }
}

variable "restore_backup_id" {
  description = "Id of the restore point to restore into restore_target; null restores nothing. An id, not an expression that follows the newest point: the restore happens when this changes."
  type        = string
  default     = null
}

variable "restore_target" {
  description = "Image on var.cluster to restore into; the original volume is overwritten only because force is set."
  type        = string
  default     = "volume-1234"
}

provider "cephbackup" {
  cluster        = var.cluster
  backup_cluster = var.backup_cluster
}

module "week" {
  source   = "../modules/weekly-chain"
  for_each = var.weeks

  pool        = var.pool
  image       = var.image
  backup_pool = var.backup_pool
  days        = each.value
}

# Reads only the backup cluster: works while the source cluster is down.
data "cephbackup_restore_points" "volume" {
  pool        = var.pool
  image       = var.image
  backup_pool = var.backup_pool
  depends_on  = [module.week]
}

locals {
  points = data.cephbackup_restore_points.volume.restore_points
  newest = length(local.points) > 0 ? local.points[length(local.points) - 1] : null
}

resource "cephbackup_restore" "newest" {
  count = var.restore_backup_id == null ? 0 : 1

  backup_id    = var.restore_backup_id
  pool         = var.pool
  image        = var.image
  backup_pool  = var.backup_pool
  target_pool  = var.pool
  target_image = var.restore_target
  force        = true
}

output "restore_points" {
  value = [for p in local.points : "${p.created_at}  ${p.kind}  ${p.id}  ${p.snapshot}"]
}

output "newest_id" {
  value = try(local.newest.id, null)
}

output "newest_snapshot" {
  value = try(local.newest.snapshot, null)
}

output "restored_bytes" {
  value = try(cephbackup_restore.newest[0].restored_bytes, null)
}
