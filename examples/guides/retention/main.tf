# Weekly full backups with daily incrementals: one module instance per week.
# Dropping a week's key destroys that week's chain, newest incremental first.
# The newest two weeks are protected: no plan can delete them, whatever the
# configuration says, until a newer week pushes them out of the newest two.
locals {
  weeks = {
    "2026-w46" = ["mon", "tue", "wed", "thu", "fri", "sat"]
    "2026-w47" = ["mon", "tue", "wed", "thu", "fri", "sat"]
    "2026-w48" = ["mon", "tue"]
  }
  # Keep fewer weeks protected than weeks kept, so a week loses its
  # protection (in place) at least one apply before its key is dropped.
  protected_weeks = slice(reverse(sort(keys(local.weeks))), 0, min(2, length(local.weeks)))
}

module "week" {
  source   = "../../modules/weekly-chain"
  for_each = local.weeks

  pool        = "rbd"
  image       = "volume-1234"
  backup_pool = "backups"
  days        = each.value
  protect     = contains(local.protected_weeks, each.key)
}

output "newest_backup_per_week" {
  value = { for week, m in module.week : week => m.newest_id }
}
