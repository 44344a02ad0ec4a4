# One week's chain: a full backup on the first apply, then one incremental per
# day listed in var.days, each continuing the previous day's backup.
terraform {
  required_providers {
    cephbackup = {
      source = "cephbackup/cephbackup"
    }
  }
}

variable "pool" { type = string }
variable "image" { type = string }
variable "backup_pool" { type = string }
variable "days" {
  type        = list(string)
  description = "Days of the week already backed up incrementally, in order: mon, tue, ..."
}
variable "protect" {
  type        = bool
  default     = false
  description = "deletion_protection for every backup of the week: while true, no plan can delete them."
}
variable "adopt" {
  type        = bool
  default     = false
  description = "adopt_backup_image for the week's full: after a disaster, the first week on the replacement cluster adopts the backup image."
}

locals {
  # A day is backed up once it appears in var.days; each one's parent is the day before.
  enabled = { for d in ["mon", "tue", "wed", "thu", "fri", "sat"] : d => contains(var.days, d) ? 1 : 0 }
}

resource "cephbackup_full" "week" {
  pool        = var.pool
  image       = var.image
  backup_pool = var.backup_pool

  deletion_protection = var.protect
  adopt_backup_image  = var.adopt
}

resource "cephbackup_incremental" "mon" {
  count       = local.enabled["mon"]
  parent_id   = cephbackup_full.week.id
  pool        = var.pool
  image       = var.image
  backup_pool = var.backup_pool

  deletion_protection = var.protect
}

resource "cephbackup_incremental" "tue" {
  count       = local.enabled["tue"]
  parent_id   = cephbackup_incremental.mon[0].id
  pool        = var.pool
  image       = var.image
  backup_pool = var.backup_pool

  deletion_protection = var.protect
}

resource "cephbackup_incremental" "wed" {
  count       = local.enabled["wed"]
  parent_id   = cephbackup_incremental.tue[0].id
  pool        = var.pool
  image       = var.image
  backup_pool = var.backup_pool

  deletion_protection = var.protect
}

resource "cephbackup_incremental" "thu" {
  count       = local.enabled["thu"]
  parent_id   = cephbackup_incremental.wed[0].id
  pool        = var.pool
  image       = var.image
  backup_pool = var.backup_pool

  deletion_protection = var.protect
}

resource "cephbackup_incremental" "fri" {
  count       = local.enabled["fri"]
  parent_id   = cephbackup_incremental.thu[0].id
  pool        = var.pool
  image       = var.image
  backup_pool = var.backup_pool

  deletion_protection = var.protect
}

resource "cephbackup_incremental" "sat" {
  count       = local.enabled["sat"]
  parent_id   = cephbackup_incremental.fri[0].id
  pool        = var.pool
  image       = var.image
  backup_pool = var.backup_pool

  deletion_protection = var.protect
}

output "newest_id" {
  description = "Id of the newest backup of the week."
  value = coalesce(
    one(cephbackup_incremental.sat[*].id), one(cephbackup_incremental.fri[*].id), one(cephbackup_incremental.thu[*].id),
    one(cephbackup_incremental.wed[*].id), one(cephbackup_incremental.tue[*].id), one(cephbackup_incremental.mon[*].id),
    cephbackup_full.week.id,
  )
}
