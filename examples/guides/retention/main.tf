# Weekly full backups with daily incrementals, four weeks kept, computed from
# the time: applied once a day, the plan extends the current week's chain;
# on the first apply of a week it starts a new chain and deletes the oldest
# one, newest incremental first. The newest two weeks are protected: no plan
# can delete them, whatever the configuration says.
variable "now" {
  description = "The time the plan is for (RFC 3339); null: plantimestamp()."
  type        = string
  default     = null
}

# Read at plan time, before this apply: the days each week has, from the
# labels the weekly-chain module puts on its backups.
data "cephbackup_restore_points" "recorded" {
  pool        = "rbd"
  image       = "volume-1234"
  backup_pool = "backups"
}

locals {
  now   = coalesce(var.now, plantimestamp())
  today = provider::cephbackup::periods(local.now, "daily", 1)[0]
  # The days of the current week up to today, oldest first.
  this_week = provider::cephbackup::period_days(local.now, "weekly")
  weeks     = provider::cephbackup::periods(local.now, "weekly", 4) # newest first
  recorded = {
    for w in local.weeks : w => sort(distinct([
      for p in data.cephbackup_restore_points.recorded.restore_points : p.labels["day"] if lookup(p.labels, "week", "") == w
    ]))
  }
  first_day = try(local.recorded[local.weeks[0]][0], local.today)
  # Earlier weeks keep the days they have; the current week has every day
  # from its first backup up to today.
  chains = merge(
    { for w, days in local.recorded : w => days if length(days) > 0 },
    { (local.weeks[0]) = slice(local.this_week, index(local.this_week, local.first_day), length(local.this_week)) },
  )
  # Fewer weeks protected than kept: a week loses its protection (in place)
  # two weeks before it ages out.
  protected_weeks = slice(local.weeks, 0, 2)
}

module "week" {
  source   = "../../modules/weekly-chain"
  for_each = local.chains

  pool        = "rbd"
  image       = "volume-1234"
  backup_pool = "backups"
  week        = each.key
  days        = each.value
  protect     = contains(local.protected_weeks, each.key)
}

output "newest_backup_per_week" {
  value = { for week, m in module.week : week => m.newest_id }
}
