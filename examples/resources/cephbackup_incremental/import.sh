# An incremental recorded on the backup cluster is imported by <backup_pool>/<backup_id>,
# or <backup_pool>/<backup_namespace>/<backup_id> for one in a RADOS namespace.
terraform import cephbackup_incremental.monday backups/7c9e6679-7425-40de-944b-e07fc1f90ae7
terraform import cephbackup_incremental.tenant_monday backups/tenant-a/16fd2706-8baf-433b-82eb-8c7fada847da
