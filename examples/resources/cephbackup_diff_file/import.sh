# <backup_pool>:<absolute path of the file> (<backup_pool>/<backup_namespace>:<path>
# in a RADOS namespace); the file names its restore points and the backup
# cluster says which image they belong to.
terraform import cephbackup_diff_file.weekly backups:/srv/offsite/volume-1234/weekly.diff
