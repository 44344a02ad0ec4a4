# A complete disaster-recovery plan for one volume: weekly full backups with
# daily incrementals on a second cluster, a lookup of the restore points the
# backup cluster holds, and a restore of the one the operator picks.
#
# Normal days: apply once a day. Which week's chain to extend, which to start
#              and which to delete is computed from the time (functions need
#              Terraform >= 1.8 or OpenTofu >= 1.7); nothing is edited by hand.
# Incident:    set restore_backup_id to the id of the restore point to bring
#              back (output restore_points lists them), apply; set it back to
#              null once the volume is back.
# Disaster:    point var.cluster at the replacement cluster, set
#              restore_backup_id, apply. Then back the recovered volume up into
#              the same backup_pool: set adopt_week to the week of the first
#              backup on the replacement cluster (it starts a new chain).
#
# The restore is a resource, pinned to the id it was given. With Terraform >= 1.14, the
# cephbackup_restore action restores once without a resource
# (examples/actions/cephbackup_restore).
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

variable "now" {
  description = "The time the plan is for (RFC 3339); null: plantimestamp(). Set it to see what a later day's plan does."
  type        = string
  default     = null
}

variable "weeks_kept" {
  description = "Weekly chains kept, the current week's included: when a week begins, the oldest chain is deleted."
  type        = number
  default     = 4
}

variable "restore_backup_id" {
  description = <<-EOT
    Id of the restore point to restore into restore_target, set for an incident; null: no restore.
    A pinned id, never "the newest restore point": the next backup would change that, and the
    restore would then overwrite the volume again with the point it just took.
  EOT
  type        = string
  default     = null
}

variable "restore_target" {
  description = "Image on var.cluster to restore into; the original volume is overwritten only because force is set."
  type        = string
  default     = "volume-1234"
}

variable "adopt_week" {
  description = <<-EOT
    After a disaster: the first week backed up on the replacement cluster. Its full backup adopts
    the backup image, which holds the lost cluster's backups of the volume (they stay restorable).
  EOT
  type        = string
  default     = null
}

provider "cephbackup" {
  cluster        = var.cluster
  backup_cluster = var.backup_cluster
}

# What the backup cluster holds before this apply (read at plan): the days
# each week has, from the labels the weekly-chain module puts on its backups.
data "cephbackup_restore_points" "recorded" {
  pool        = var.pool
  image       = var.image
  backup_pool = var.backup_pool
}

locals {
  now   = coalesce(var.now, plantimestamp())
  today = provider::cephbackup::periods(local.now, "daily", 1)[0]
  # The days of the current week up to today, oldest first.
  this_week = provider::cephbackup::period_days(local.now, "weekly")
  # Newest first: a week enters when it begins and leaves weeks_kept weeks later.
  weeks = provider::cephbackup::periods(local.now, "weekly", var.weeks_kept)
  recorded = {
    for w in local.weeks : w => sort(distinct([
      for p in data.cephbackup_restore_points.recorded.restore_points : p.labels["day"] if lookup(p.labels, "week", "") == w
    ]))
  }
  first_day = try(local.recorded[local.weeks[0]][0], local.today)
  # Earlier weeks keep the days they have (a week never backed up stays so);
  # the current week has every day from its first backup up to today, so a
  # day the pipeline missed is taken at the next apply.
  chains = merge(
    { for w, days in local.recorded : w => days if length(days) > 0 },
    { (local.weeks[0]) = slice(local.this_week, index(local.this_week, local.first_day), length(local.this_week)) },
  )
}

module "week" {
  source   = "../modules/weekly-chain"
  for_each = local.chains

  pool        = var.pool
  image       = var.image
  backup_pool = var.backup_pool
  week        = each.key
  days        = each.value
  adopt       = each.key == var.adopt_week
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
}

# A restore is a one-off: backup_id is the id the operator chose for the
# incident. Were it an expression that follows the newest restore point, the
# next backup would change it, and the plan would replace this restore (the
# provider refuses that at apply, with a plan warning, unless
# overwrite_on_replace = true).
resource "cephbackup_restore" "incident" {
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
  description = "Every restore point of the volume, oldest first: pick restore_backup_id from here."
  value       = [for p in local.points : "${p.created_at}  ${p.kind}  ${p.id}  ${p.snapshot}"]
}

output "newest_id" {
  value = try(local.points[length(local.points) - 1].id, null)
}

output "newest_snapshot" {
  value = try(local.points[length(local.points) - 1].snapshot, null)
}

output "restored_bytes" {
  value = try(cephbackup_restore.incident[0].restored_bytes, null)
}
