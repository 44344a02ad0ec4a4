# A backup recorded on the backup cluster is imported by <backup_pool>/<backup_id>,
# or <backup_pool>/<backup_namespace>/<backup_id> for one in a RADOS namespace.
terraform import cephbackup_full.weekly backups/0f8fad5b-d9cb-469f-a165-70867728950e
terraform import cephbackup_full.tenant_weekly backups/tenant-a/6fa459ea-ee8a-3ca4-894e-db77e160355e
