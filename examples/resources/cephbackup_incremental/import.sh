# An incremental recorded on the backup cluster is imported by <backup_pool>/<backup_id>.
terraform import cephbackup_incremental.monday backups/7c9e6679-7425-40de-944b-e07fc1f90ae7
