# The four newest ISO weeks up to the plan's time, newest first:
# ["2026-w48", "2026-w47", "2026-w46", "2026-w45"] on 2026-11-28.
output "weeks" {
  value = provider::cephbackup::periods(plantimestamp(), "weekly", 4)
}

# A fixed time shows what a given day's plan does.
output "days_at_new_year" {
  value = provider::cephbackup::periods("2027-01-01T06:00:00Z", "daily", 2) # ["2027-01-01", "2026-12-31"]
}
