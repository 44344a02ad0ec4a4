# Weekly full backups with daily incrementals: one module instance per week.
# Dropping a week's key destroys that week's chain, newest incremental first.
locals {
  weeks = {
    "2026-w47" = ["mon", "tue", "wed", "thu", "fri", "sat"]
    "2026-w48" = ["mon", "tue"]
  }
}

module "week" {
  source   = "../../modules/weekly-chain"
  for_each = local.weeks

  pool        = "rbd"
  image       = "volume-1234"
  backup_pool = "backups"
  days        = each.value
}

output "newest_backup_per_week" {
  value = { for week, m in module.week : week => m.newest_id }
}
