#!/usr/bin/env bash
# Builds (once; cached) a Debian sid guest disk for the cgroup v2 proving ground:
# kernel + initrd (virtio_blk is a module in linux-image-cloud-amd64), systemd,
# Docker, Podman, SSH with a generated root key, DHCP on the user-net NIC.
# Python and wrk for the fault benchmark run in it (tests/cgroupv2/faults.sh).
# Output in $CG2_BASE: disk.raw (ext4, no partition table), vmlinuz, initrd.img,
# id_ed25519(.pub). Cached, keyed by the package list and mirror (.stamp): a disk
# built from another list is rebuilt. Rebuild anyway with --force.
set -euo pipefail
# shellcheck source=tests/cgroupv2/lib.sh
. "$(dirname "$0")/lib.sh"

force=0
case "${1:-}" in
  --force) force=1 ;;
  "") ;;
  *) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac

need debootstrap mkfs.ext4 ssh-keygen chroot mount umount
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DISK_SIZE=${CG2_DISK_SIZE:-10G}
PACKAGES=(linux-image-cloud-amd64 initramfs-tools systemd systemd-sysv udev dbus kmod
  openssh-server docker.io docker-cli containerd runc podman crun conmon netavark aardvark-dns
  catatonit nftables iptables apparmor curl iproute2 procps e2fsprogs python3 wrk)
stamp="mirror=$MIRROR size=$DISK_SIZE packages=${PACKAGES[*]}"
if [ $force = 0 ] && [ -s "$CG2_BASE/disk.raw" ] && [ -s "$CG2_BASE/.complete" ]; then
  if [ "$(cat "$CG2_BASE/.stamp" 2>/dev/null)" = "$stamp" ]; then
    cg2_log "guest disk cached: $CG2_BASE"
    exit 0
  fi
  cg2_log "cached guest disk was built from another package list or mirror: rebuilding"
fi
work=$CG2_CACHE/build
root=$work/root
rm -rf "$work" "$CG2_BASE"
mkdir -p "$work" "$CG2_BASE"

cleanup() {
  local m
  for m in dev/pts dev proc sys; do
    if mountpoint -q "$root/$m" 2>/dev/null; then umount -l "$root/$m" || true; fi
  done
}
trap cleanup EXIT

start=$SECONDS
cg2_log "debootstrap sid"
debootstrap --variant=minbase --include=ca-certificates sid "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
  || { tail -30 "$work/debootstrap.log"; cg2_die "debootstrap failed"; }

mount -t proc proc "$root/proc"
mount -t sysfs sys "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
# No service may start inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod +x "$root/usr/sbin/policy-rc.d"

cg2_log "apt: kernel, systemd, docker, podman, ssh, python3, wrk"
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${PACKAGES[@]}" \
  >"$work/apt.log" 2>&1 || { tail -30 "$work/apt.log"; cg2_die "apt-get install in the guest failed"; }
chroot "$root" apt-get clean
rm -f "$root/usr/sbin/policy-rc.d"
cleanup

cg2_log "configure"
echo cg2guest >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 cg2guest\n' >"$root/etc/hosts"
: >"$root/etc/machine-id"
echo '/dev/vda / ext4 defaults 0 1' >"$root/etc/fstab"
mkdir -p "$root/etc/systemd/network"
printf '[Match]\nName=en* eth*\n[Network]\nDHCP=ipv4\n' >"$root/etc/systemd/network/10-user-net.network"
ln -sf /usr/lib/systemd/system/systemd-networkd.service \
  "$root/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
rm -f "$root/etc/resolv.conf"
echo 'nameserver 10.0.2.3' >"$root/etc/resolv.conf"
# The guest's job is containers: no daily apt timers or man-db runs eating the TCG CPU.
for u in apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer fstrim.timer; do
  ln -sf /dev/null "$root/etc/systemd/system/$u"
done
ssh-keygen -q -t ed25519 -N '' -C cgroupv2-proving-ground -f "$CG2_BASE/id_ed25519"
install -d -m 700 "$root/root/.ssh"
install -m 600 "$CG2_BASE/id_ed25519.pub" "$root/root/.ssh/authorized_keys"
# Host keys are made once here, so the cached disk keeps them.
chroot "$root" ssh-keygen -A >/dev/null

cp -L "$root/vmlinuz" "$CG2_BASE/vmlinuz"
cp -L "$root/initrd.img" "$CG2_BASE/initrd.img"
# shellcheck disable=SC2016  # dpkg-query's own format fields
chroot "$root" dpkg-query -W -f '${Package} ${Version}\n' \
  linux-image-cloud-amd64 systemd docker.io podman runc crun python3 wrk >"$CG2_BASE/versions.txt"

cg2_log "mkfs.ext4 -d ($DISK_SIZE, sparse)"
mkfs.ext4 -q -F -L cg2root -d "$root" "$CG2_BASE/disk.raw" "$DISK_SIZE" >/dev/null
rm -rf "$work"
echo "$stamp" >"$CG2_BASE/.stamp"
date -u +%FT%TZ >"$CG2_BASE/.complete"
cg2_log "guest disk built in $((SECONDS - start)) s: $CG2_BASE"
cat "$CG2_BASE/versions.txt" >&2
