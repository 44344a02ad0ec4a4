# Both clusters lost, the off-site diff files kept (cephbackup_diff_file):
# rebuild the volume on the replacement cluster from the weekly full's file
# and Monday's incremental file. Only the replacement cluster is needed.
resource "cephbackup_restore_from_diff_files" "volume_1234" {
  diff_files = [
    "/srv/offsite/volume-1234/weekly.diff",
    "/srv/offsite/volume-1234/monday.diff",
  ]
  target_pool  = "rbd"
  target_image = "volume-1234"
}
