# backups.tfquery.hcl: every full backup of volume-1234 that the backup pool
# holds. `terraform query -generate-config-out=adopted.tf` (Terraform >= 1.14)
# writes a resource and an import block for each; `terraform apply` adopts them.
list "cephbackup_full" "volume_1234" {
  provider = cephbackup

  config {
    backup_pool = "backups"
    image       = "volume-1234"
  }
}

list "cephbackup_incremental" "volume_1234" {
  provider = cephbackup

  config {
    backup_pool = "backups"
    image       = "volume-1234"
    labels      = { tier = "daily" }
  }
}
