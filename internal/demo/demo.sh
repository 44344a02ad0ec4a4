#!/usr/bin/env bash
# make demo: two local clusters, the example disaster-recovery plan applied day by day (its
# `now` set to each day in turn, so the weeks come from the provider's functions), an
# incident on the volume, a restore into it, then the source cluster lost, the volume
# restored on a replacement cluster and backed up from there into the same backup pool, and
# a week rolling over: the new week's chain starts and the oldest is deleted, children first.
# Checksums are compared with the rbd CLI at each step.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
demo=$root/.demo
clusters=$demo/clusters
harness=$root/internal/testcluster/testcluster.sh
image=volume-1234

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

rm -rf "$demo"
mkdir -p "$demo"
trap '"$harness" stop "$clusters" >/dev/null 2>&1 || true' EXIT

say "Starting a source and a backup cluster (one monitor, one memstore OSD each, on loopback)"
"$harness" start "$clusters" source backup
src_conf=$clusters/source/ceph.conf
dst_conf=$clusters/backup/ceph.conf
src() { rbd -c "$src_conf" "$@"; }
dst() { rbd -c "$dst_conf" "$@"; }
sha() { "$1" export --no-progress "$2" - | sha256sum | cut -c1-16; }
mon_host() { sed -n 's/^MON_HOST=//p' "$clusters/$1/env"; }

# Least-privilege cephx users, as the getting-started guide describes.
user_key() { # cluster conf, user, pool
	ceph -c "$1" auth get-or-create "client.$2" mon 'profile rbd' osd "profile rbd pool=$3" >/dev/null
	ceph -c "$1" auth print-key "client.$2"
}
src_key=$(user_key "$src_conf" demo-src rbd)
dst_key=$(user_key "$dst_conf" demo-dst backups)

say "Creating rbd/$image (256 MiB, 40 MiB of data with holes)"
src create --size 256M "rbd/$image"
# rbd has no "write at offset" command; import-diff of a hand-made stream does it exactly.
volume_conf=$src_conf # the cluster write_at writes to
write_at() { # offset(bytes) length(bytes)
	local off=$1 len=$2
	{
		printf 'rbd diff v1\n'
		printf 'w'
		python3 -c "import struct,sys; sys.stdout.buffer.write(struct.pack('<QQ', $off, $len))"
		head -c "$len" /dev/urandom
		printf 'e'
	} >"$demo/stream"
	rbd -c "$volume_conf" import-diff --no-progress "$demo/stream" "rbd/$image"
}
write_at 0 $((16 << 20))
write_at $((100 << 20)) $((16 << 20))
write_at $((250 << 20)) $((6 << 20))

work=$demo/work
mkdir -p "$work"
cp -r "$root/examples/disaster-recovery" "$root/examples/modules" "$work/"
plan=$work/disaster-recovery
cat >"$demo/cli.tfrc" <<CLI
provider_installation {
  dev_overrides {
    "registry.terraform.io/cephbackup/cephbackup" = "$root/bin"
  }
  direct {}
}
CLI
export TF_CLI_CONFIG_FILE=$demo/cli.tfrc TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
tfvars() { # cluster name, key, now (RFC 3339), restore point id JSON, week that adopts JSON
	cat >"$plan/terraform.tfvars.json" <<JSON
{
  "cluster": {"mon_host": "$(mon_host "$1")", "user": "demo-src", "key": "$2"},
  "backup_cluster": {"mon_host": "$(mon_host backup)", "user": "demo-dst", "key": "$dst_key"},
  "image": "$image",
  "now": "$3",
  "weeks_kept": 2,
  "restore_backup_id": $4,
  "restore_target": "$image",
  "adopt_week": $5
}
JSON
}
tf() { terraform -chdir="$plan" "$@"; }
# Shows resource lines and the provider's own warnings (the dev_overrides notice
# is noise here); a failed apply shows everything and stops the demo.
apply() {
	local out=$demo/apply.log
	if ! tf apply -auto-approve -compact-warnings -no-color "$@" >"$out" 2>&1; then
		cat "$out"
		echo "demo: terraform apply failed" >&2
		return 1
	fi
	grep -E '^(cephbackup|module|Apply complete|Warning:|- )' "$out" | grep -v -e 'development overrides' -e 'Refreshing state' || true
}

tf get >/dev/null

# The plan keeps two weekly chains; each apply's now is a day of 2026-w48, w49, then w50.
say "Monday 2026-11-23 (week 2026-w48): weekly full backup"
tfvars source "$src_key" 2026-11-23T06:00:00Z null null
apply

say "Tuesday: 8 MiB changed, daily incremental"
write_at $((20 << 20)) $((4 << 20))
write_at $((180 << 20)) $((4 << 20))
tfvars source "$src_key" 2026-11-24T06:00:00Z null null
apply

say "Wednesday: 1 MiB changed, daily incremental"
write_at $((3 << 20)) $((1 << 20))
tfvars source "$src_key" 2026-11-25T06:00:00Z null null
apply
tf state list
for r in 'module.week["2026-w48"].cephbackup_full.week' 'module.week["2026-w48"].cephbackup_incremental.day2[0]' 'module.week["2026-w48"].cephbackup_incremental.day3[0]'; do
	printf '  %-58s transferred_bytes = %s\n' "$r" "$(tf state show -no-color "$r" | sed -n 's/^ *transferred_bytes *= *//p')"
done

say "Restore points recorded on the backup cluster"
tf output -no-color restore_points
newest=$(tf output -raw newest_snapshot)
newest_id=$(tf output -raw newest_id)
point_sum=$(sha dst "backups/$image.backup.base@$newest")
good_sum=$(sha src "rbd/$image")

say "Incident: the volume is scribbled on"
write_at $((10 << 20)) $((2 << 20))
write_at $((200 << 20)) 4096
bad_sum=$(sha src "rbd/$image")

say "Restore Wednesday's point, pinned by its id, into the original volume (only the differences travel)"
tfvars source "$src_key" 2026-11-25T18:00:00Z "\"$newest_id\"" null
apply
restored_sum=$(sha src "rbd/$image")
restored_bytes=$(tf output -raw restored_bytes)

say "Disaster: the source cluster is lost; restore on a replacement cluster"
"$harness" stop-daemons "$clusters" source
"$harness" start "$clusters" replacement
repl_key=$(user_key "$clusters/replacement/ceph.conf" demo-src rbd)
tfvars replacement "$repl_key" 2026-11-25T20:00:00Z "\"$newest_id\"" null
apply
repl() { rbd -c "$clusters/replacement/ceph.conf" "$@"; }
dr_sum=$(sha repl "rbd/$image")

say "Monday 2026-11-30 (2026-w49): the new week's full, on the replacement cluster, adopts the backup image"
tfvars replacement "$repl_key" 2026-11-30T06:00:00Z "\"$newest_id\"" '"2026-w49"'
apply
w49=$(tf state show -no-color 'module.week["2026-w49"].cephbackup_full.week' | sed -n 's/^ *snapshot *= *"\(.*\)"/\1/p')
w49_point_sum=$(sha dst "backups/$image.backup.base@$w49")
w49_volume_sum=$(sha repl "rbd/$image@$w49")
old_point_after=$(sha dst "backups/$image.backup.base@$newest")

say "Tuesday on the replacement cluster: 2 MiB changed, daily incremental"
volume_conf=$clusters/replacement/ceph.conf
write_at $((60 << 20)) $((2 << 20))
tfvars replacement "$repl_key" 2026-12-01T06:00:00Z "\"$newest_id\"" '"2026-w49"'
apply
for r in 'module.week["2026-w49"].cephbackup_full.week' 'module.week["2026-w49"].cephbackup_incremental.day2[0]'; do
	printf '  %-58s transferred_bytes = %s\n' "$r" "$(tf state show -no-color "$r" | sed -n 's/^ *transferred_bytes *= *//p')"
done
tf output -no-color restore_points

say "Monday 2026-12-07 (2026-w50): the week rolls over; the plan starts w50's chain and deletes w48's"
tfvars replacement "$repl_key" 2026-12-07T06:00:00Z null '"2026-w49"'
tf plan -no-color -compact-warnings -out="$demo/rollover.plan" >"$demo/plan.log" 2>&1 || { cat "$demo/plan.log"; exit 1; }
grep -E '^  # (module|cephbackup)|^Plan:' "$demo/plan.log"
tf apply -no-color -compact-warnings "$demo/rollover.plan" >"$demo/apply.log" 2>&1 || { cat "$demo/apply.log"; exit 1; }
grep -E '^module.*(Destroying|Creating)|^Apply complete' "$demo/apply.log"
# Children first: w48's day3, then day2, then its full.
order=$(sed -n 's/^module.week\["2026-w48"\]\.\([a-z_.0-9]*\)\(\[0\]\)\{0,1\}: Destroying.*/\1/p' "$demo/apply.log" | tr '\n' ' ')
points_after=$(tf output -json restore_points)

say "Checksums (sha256 of rbd export, first 16 hex digits)"
printf '  %-44s %s\n' \
	"restore point backups/$image.backup.base@…" "$point_sum" \
	"source volume at the last backup" "$good_sum" \
	"source volume after the incident" "$bad_sum" \
	"source volume after the restore" "$restored_sum" \
	"replacement cluster after the DR restore" "$dr_sum" \
	"restore point of the adopting full" "$w49_point_sum" \
	"recovered volume at that backup" "$w49_volume_sum" \
	"Wednesday's restore point after the adoption" "$old_point_after"
printf '  bytes sent by the in-place restore: %s (the volume is 256 MiB)\n' "$restored_bytes"
printf '  w48 destroyed in this order: %s\n' "$order"

rolled=false
if [[ $order == "cephbackup_incremental.day3 cephbackup_incremental.day2 cephbackup_full.week " && $points_after != *"$newest_id"* ]] &&
	tf state list | grep -q 'module.week\["2026-w50"\].cephbackup_full.week'; then
	rolled=true
fi

if [[ $point_sum == "$good_sum" && $restored_sum == "$point_sum" && $dr_sum == "$point_sum" && $bad_sum != "$point_sum" &&
	$w49_point_sum == "$w49_volume_sum" && $old_point_after == "$point_sum" && $rolled == true ]]; then
	say "Demo OK: every restore is bit-for-bit the restore point; the week rolled over, children first"
else
	say "Demo FAILED: checksums differ, or the rollover did not start w50 and delete w48 children first"
	exit 1
fi
