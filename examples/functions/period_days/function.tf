# The days of the current ISO week up to today, oldest first: on Wednesday
# 2026-11-25, ["2026-11-23", "2026-11-24", "2026-11-25"].
output "this_week" {
  value = provider::cephbackup::period_days(plantimestamp(), "weekly")
}
