# One week's chain: a full backup on the week's first backed-up day, then one
# incremental per later day in var.days, each continuing the day before. Every
# backup is labelled with its week and day, so the configuration that calls
# this module can read back, from the backup cluster, which days a week has.
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
variable "week" {
  type        = string
  description = "The week's key, e.g. 2026-w48 (provider::cephbackup::periods(now, \"weekly\", n))."
}
variable "days" {
  type        = list(string)
  description = "Day keys backed up in the week, oldest first: the first is the full, each later one an incremental."
  validation {
    condition     = length(var.days) >= 1 && length(var.days) <= 7
    error_message = "A week has 1 to 7 backed-up days."
  }
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

resource "cephbackup_full" "week" {
  pool        = var.pool
  image       = var.image
  backup_pool = var.backup_pool
  labels      = { week = var.week, day = var.days[0] }

  deletion_protection = var.protect
  adopt_backup_image  = var.adopt
}

# A chain cannot be one count or for_each resource (an instance cannot refer
# to another instance of its own resource), so there is one per day position.
resource "cephbackup_incremental" "day2" {
  count       = length(var.days) >= 2 ? 1 : 0
  parent_id   = cephbackup_full.week.id
  pool        = var.pool
  image       = var.image
  backup_pool = var.backup_pool
  labels      = { week = var.week, day = var.days[1] }

  deletion_protection = var.protect
}

resource "cephbackup_incremental" "day3" {
  count       = length(var.days) >= 3 ? 1 : 0
  parent_id   = cephbackup_incremental.day2[0].id
  pool        = var.pool
  image       = var.image
  backup_pool = var.backup_pool
  labels      = { week = var.week, day = var.days[2] }

  deletion_protection = var.protect
}

resource "cephbackup_incremental" "day4" {
  count       = length(var.days) >= 4 ? 1 : 0
  parent_id   = cephbackup_incremental.day3[0].id
  pool        = var.pool
  image       = var.image
  backup_pool = var.backup_pool
  labels      = { week = var.week, day = var.days[3] }

  deletion_protection = var.protect
}

resource "cephbackup_incremental" "day5" {
  count       = length(var.days) >= 5 ? 1 : 0
  parent_id   = cephbackup_incremental.day4[0].id
  pool        = var.pool
  image       = var.image
  backup_pool = var.backup_pool
  labels      = { week = var.week, day = var.days[4] }

  deletion_protection = var.protect
}

resource "cephbackup_incremental" "day6" {
  count       = length(var.days) >= 6 ? 1 : 0
  parent_id   = cephbackup_incremental.day5[0].id
  pool        = var.pool
  image       = var.image
  backup_pool = var.backup_pool
  labels      = { week = var.week, day = var.days[5] }

  deletion_protection = var.protect
}

resource "cephbackup_incremental" "day7" {
  count       = length(var.days) >= 7 ? 1 : 0
  parent_id   = cephbackup_incremental.day6[0].id
  pool        = var.pool
  image       = var.image
  backup_pool = var.backup_pool
  labels      = { week = var.week, day = var.days[6] }

  deletion_protection = var.protect
}

output "newest_id" {
  description = "Id of the newest backup of the week."
  value = coalesce(
    one(cephbackup_incremental.day7[*].id), one(cephbackup_incremental.day6[*].id), one(cephbackup_incremental.day5[*].id),
    one(cephbackup_incremental.day4[*].id), one(cephbackup_incremental.day3[*].id), one(cephbackup_incremental.day2[*].id),
    cephbackup_full.week.id,
  )
}
