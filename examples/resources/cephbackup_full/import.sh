# A backup recorded on the backup cluster is imported by <backup_pool>/<backup_id>.
terraform import cephbackup_full.weekly backups/0f8fad5b-d9cb-469f-a165-70867728950e
