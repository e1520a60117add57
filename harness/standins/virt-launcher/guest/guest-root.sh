#!/usr/bin/env bash
# guest-root.sh PLAN_DIR: the first process of a lab guest (harness/standins/virt-launcher), its
# "firmware and disk image": it makes the guest's filesystem, names the guest, and execs systemd
# as the guest's init, with the root made the guest's own.
#
# The launcher's guest holder (guest.go) starts it as PID 1 of new PID, mount, UTS and IPC
# namespaces, in the guest's network namespace (eth0 there, down, with the VM's MAC), so every
# mount below is the guest's only (the container's mounts are private). What the guest sees, in a
# tmpfs at /mnt (the container's empty /mnt, in this mount namespace only):
#
#   /usr (and the host's /bin, /sbin, /lib* links)  the container's, so the node's: read-only
#   /usr/local                                      the guest's own: empty, or over the image's packages
#   /etc     a private copy of the container's /etc (an overlay on it would be a third stacked
#            overlay in the lab, where the node's and the container's /etc are overlays already:
#            the kernel allows two), without the node's Kubernetes files and enabled units, with
#            the guest's hostname, hosts, machine-id, SSH host keys, users and sudo rules, and
#            this folder's etc/ (sshd_config, the network and cloud-final units, dhclient's hook)
#   /var     an overlay on the container's (empty) /var: the guest's writes stay in it
#   /home /root /opt   the guest's own
#   /run /tmp   tmpfs;  /proc (/proc/sys read-only but net/), /sys (read-only),
#            /dev, /sys/fs/cgroup (cgroup v2, a cgroup of the guest's own): the guest's own
#   /var/lib/cloud/seed/nocloud   meta-data and user-data (the NoCloud seed the launcher packed)
#
# The guest's disk: what it writes to /etc, /var, /usr/local, /home, /root and /opt is kept in
# DISK (GUEST_DISK, default <the launcher's share dir>/kubevirt-lab-disks/<namespace>_<name>,
# the node's /var/run/kubevirt, a hostPath of the pod), so a VM stopped and started again on its
# node (its OfflineVirtualMachine's running false, then true) finds its files, its SSH host keys,
# its users and the app's data as it left them, as a VM with a persistent disk does (a real 0.4.1
# registryDisk VM would come back as its image). The first boot on a disk lays the image's /etc
# and makes the users; later boots keep what is there and only apply the cloud-config's keys again.
# kubeadm reset's clean-up of the node (steps/lib.sh) removes the disks.
#
# PLAN_DIR (written by the launcher, cloudinit.go and manager.go):
#   guest.env    GUEST_NAME GUEST_NAMESPACE GUEST_HOSTNAME GUEST_SEED GUEST_UUID (shell syntax)
#   users.tsv    one user a line: name, gecos, shell, groups (comma-separated), sudo rules...
#   keys/<user>  that user's authorized_keys
#   user-script  a user-data script (optional), run once when the guest is up
# and this script writes there:
#   cgroup       the guest's cgroup (v2 path), which the holder removes when the guest has ended
#                (or, when the holder could not, the next guest's start: see below)
set -euo pipefail

PLAN=${1:?usage: guest-root.sh PLAN_DIR}
SELF_DIR=$(cd "${BASH_SOURCE[0]%/*}" && pwd)
BASE=/mnt
R=$BASE/root

say() { echo "guest-root: $*" >&2; }

[[ $$ == 1 ]] || { say "must run as PID 1 of the guest's PID namespace (pid $$)"; exit 1; }
# shellcheck source=/dev/null
. "$PLAN/guest.env"
: "${GUEST_HOSTNAME:?} ${GUEST_NAME:?} ${GUEST_NAMESPACE:?}"

mount -t tmpfs -o mode=0755 kvl-guest "$BASE"
mkdir -p "$R"
DISK=${GUEST_DISK:-/var/run/kubevirt/kubevirt-lab-disks/${GUEST_NAMESPACE}_$GUEST_NAME}
mkdir -p "$DISK"/{etc,var/upper,var/work,usr-local/upper,usr-local/work,home,root,opt}
chmod 0700 "$DISK"
fresh=1
if [[ -f $DISK/.kubevirt-lab-disk ]]; then fresh=0; fi

# --- the system: the node's /usr, read-only; /usr/local the guest's own ------------------------
for d in usr bin sbin lib lib32 lib64 libx32; do
  if [[ -L /$d ]]; then
    ln -s "$(readlink "/$d")" "$R/$d"
  elif [[ -d /$d ]]; then
    mkdir "$R/$d"
    mount --rbind "/$d" "$R/$d"
    mount -o remount,bind,ro "$R/$d"
  fi
done
# The image's packages, when it has them (harness/images/guest-packages: what the post's dnf
# installs put in the VMs): /usr/local an overlay on the layer's usr/local (the guest's writes stay
# in the guest), the layer's etc/ over /etc, its users made (sysusers.d) with the others below.
PACKAGES=/usr/local/libexec/virt-launcher-lab-packages
if [[ -d $PACKAGES/usr/local ]]; then
  mount -t overlay kvl-guest-usr-local \
    -o "lowerdir=$PACKAGES/usr/local,upperdir=$DISK/usr-local/upper,workdir=$DISK/usr-local/work" "$R/usr/local"
else
  mount --bind "$DISK/usr-local/upper" "$R/usr/local"
fi
mkdir -p "$R"/usr/local/{bin,sbin,lib,libexec,share,etc,src}
# A simulated lab host guards systemctl with stand-ins bound over it (harness/simlab; reboot,
# shutdown, poweroff and halt are links to it, their guards land on it too): the guest's
# systemctl is the real one, talking to the guest's systemd. The other guards stay.
for ((i = 0; i < 8; i++)); do
  mountpoint -q "$R/usr/bin/systemctl" || break
  umount "$R/usr/bin/systemctl"
done

# --- /etc: a private copy (on the guest's disk), laid at its first boot ---------------------
mkdir "$R/etc"
mount --bind "$DISK/etc" "$R/etc"
if ((fresh)); then
  cp -a /etc/. "$R/etc/"
  # The node's cluster credentials, CNI configuration and enabled services are no part of a VM
  # image; the image's own files (this folder's etc/) are.
  rm -rf "$R/etc/kubernetes" "$R/etc/cni" "$R"/etc/ssh/sshd_config.d "$R"/etc/ssh/ssh_host_*
  find "$R/etc/systemd/system" -maxdepth 1 -name '*.wants' -type d -exec rm -rf {} +
  cp -R "$SELF_DIR/etc/." "$R/etc/"
  if [[ -d $PACKAGES/etc ]]; then cp -R "$PACKAGES/etc/." "$R/etc/"; fi
  echo "$GUEST_HOSTNAME" >"$R/etc/hostname"
  cat >"$R/etc/hosts" <<EOF
127.0.0.1   localhost localhost.localdomain localhost4 localhost4.localdomain4
::1         localhost localhost.localdomain localhost6 localhost6.localdomain6
127.0.0.1   $GUEST_HOSTNAME.localdomain $GUEST_HOSTNAME
EOF
  tr -d '-' </proc/sys/kernel/random/uuid >"$R/etc/machine-id"
  echo "# a lab guest: its filesystems are made by guest-root.sh (harness/standins/virt-launcher)" >"$R/etc/fstab"
  # SSH host keys of the guest's own.
  ssh-keygen -q -A -f "$R"
else
  say "$GUEST_NAMESPACE/$GUEST_NAME: its disk has been booted before: its /etc, /var, /home, /root, /opt and /usr/local kept"
fi
for f in "$R"/usr/local/lib/sysusers.d/*.conf; do
  if [[ -f $f ]]; then systemd-sysusers --root "$R" "$f"; fi
done
# resolv.conf comes from DHCP (dhclient-script writes it); empty until then.
rm -f "$R/etc/resolv.conf"
: >"$R/etc/resolv.conf"

# What the image's boot starts: sshd, the network (dhclient on eth0), D-Bus; not the machine's
# clock nor its binfmt table.
u=$R/etc/systemd/system
mkdir -p "$u/multi-user.target.wants" "$u/sockets.target.wants"
ln -sf /lib/systemd/system/multi-user.target "$u/default.target"
ln -sfn /lib/systemd/system/ssh.service "$u/multi-user.target.wants/ssh.service"
ln -sfn ../network.service "$u/multi-user.target.wants/network.service"
ln -sfn /lib/systemd/system/dbus.socket "$u/sockets.target.wants/dbus.socket"
for m in systemd-timesyncd.service systemd-binfmt.service proc-sys-fs-binfmt_misc.automount; do
  ln -sf /dev/null "$u/$m"
done

# --- the other filesystems --------------------------------------------------------------------
mkdir -p "$R/var"
mount -t overlay kvl-guest-var -o "lowerdir=/var,upperdir=$DISK/var/upper,workdir=$DISK/var/work" "$R/var"
mkdir -p "$R"/var/{lib/dhcp,lib/cloud/seed/nocloud,lib/cloud/instance/scripts,log/journal,cache,spool,tmp}
chmod 1777 "$R/var/tmp"
for d in home root run tmp opt srv mnt media proc sys dev; do mkdir -p "$R/$d"; done
for d in home root opt; do mount --bind "$DISK/$d" "$R/$d"; done
chmod 0755 "$R/home" "$R/opt"
chmod 0700 "$R/root"
if ((fresh)); then cp -a "$R/etc/skel/." "$R/root/"; fi
mount -t tmpfs -o mode=0755,nosuid,nodev kvl-guest-run "$R/run"
mount -t tmpfs -o mode=1777,nosuid,nodev kvl-guest-tmp "$R/tmp"
mount -t proc proc "$R/proc"
# The kernel is the machine's: its global knobs stay out of the guest's reach. /proc/sys is
# read-only but for net/ (the guest's own network namespace); /proc/sysrq-trigger (if the kernel
# has one) is masked.
mkdir -p "$BASE/proc"
mount -t proc proc "$BASE/proc"
mount --bind "$R/proc/sys" "$R/proc/sys"
mount -o remount,bind,ro,nosuid,nodev,noexec "$R/proc/sys"
mount --bind "$BASE/proc/sys/net" "$R/proc/sys/net"
umount -l "$BASE/proc"
if [[ -e $R/proc/sysrq-trigger ]]; then mount --bind /dev/null "$R/proc/sysrq-trigger"; fi
mount -t sysfs -o ro sysfs "$R/sys"
mount -t tmpfs -o mode=0755,nosuid kvl-guest-dev "$R/dev"
for n in null zero full random urandom tty; do
  : >"$R/dev/$n"
  mount --bind "/dev/$n" "$R/dev/$n"
done
mkdir -p "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev kvl-guest-shm "$R/dev/shm"
ln -s /proc/self/fd "$R/dev/fd"
ln -s /proc/self/fd/0 "$R/dev/stdin"
ln -s /proc/self/fd/1 "$R/dev/stdout"
ln -s /proc/self/fd/2 "$R/dev/stderr"

# --- cloud-init's first boot ------------------------------------------------------------------
if [[ -n ${GUEST_SEED:-} && -f $GUEST_SEED ]]; then
  tar -xf "$GUEST_SEED" -C "$R/var/lib/cloud/seed/nocloud"
fi
if [[ -f $PLAN/user-script ]]; then
  install -m 0700 "$PLAN/user-script" "$R/var/lib/cloud/instance/scripts/part-001"
  ln -sfn ../cloud-final.service "$u/multi-user.target.wants/cloud-final.service"
fi
sudoers=$R/etc/sudoers.d/90-cloud-init-users
rules=""
while IFS=$'\t' read -r -a f; do
  ((${#f[@]})) || continue
  user=${f[0]} gecos=${f[1]:-} shell=${f[2]:-/bin/bash} groups=""
  # only the groups the guest has (the Fedora image's wheel is not Debian's)
  IFS=, read -r -a wanted <<<"${f[3]:-}"
  for g in "${wanted[@]}"; do
    if [[ -n $g ]] && grep -q "^$g:" "$R/etc/group"; then groups+=${groups:+,}$g; fi
  done
  args=(--root "$R" --create-home --home-dir "/home/$user" --shell "$shell" --user-group)
  [[ -n $gecos ]] && args+=(--comment "$gecos")
  [[ -n $groups ]] && args+=(--groups "$groups")
  # a disk booted before has the user already (cloud-init's users module leaves it; its keys are applied again)
  if ! grep -q "^$user:" "$R/etc/passwd"; then
    useradd "${args[@]}" "$user"
    usermod --root "$R" --password '*' "$user"
  fi
  ids=$(awk -F: -v u="$user" '$1 == u { print $3 ":" $4 }' "$R/etc/passwd")
  install -d -m 0700 -o "${ids%:*}" -g "${ids#*:}" "$R/home/$user/.ssh"
  install -m 0600 -o "${ids%:*}" -g "${ids#*:}" "$PLAN/keys/$user" "$R/home/$user/.ssh/authorized_keys"
  if ((${#f[@]} > 4)); then
    rules+=$'\n'"# User rules for $user"$'\n'
    for rule in "${f[@]:4}"; do rules+="$user $rule"$'\n'; done
  fi
  say "user $user (groups ${groups:-none}, $(grep -c . "$PLAN/keys/$user" || true) authorized key(s))"
done <"$PLAN/users.tsv"
if [[ -n $rules ]]; then
  printf '# Created by cloud-init (the lab guest'"'"'s, harness/standins/virt-launcher)\n%s' "$rules" >"$sudoers"
  chmod 0440 "$sudoers"
fi

# --- the guest's cgroup -----------------------------------------------------------------------
# cgroup v2 (no controllers there: the machine binds them to v1), a cgroup of the guest's own under
# this process's, which a new cgroup namespace shows systemd as the root. Its path goes to
# PLAN/cgroup for the holder, which removes it once the guest has ended.
mkdir -p "$BASE/cgroup"
mount -t cgroup2 kvl-guest-cgroup "$BASE/cgroup"
parent=$(sed -n 's/^0:://p' /proc/self/cgroup)
# A guest whose holder could not clean up (the launcher killed with SIGKILL: its container's PID
# namespace ends with every process in it, the holder too) leaves its cgroup, empty: removed here,
# with what its systemd made in it. Only empty ones that have such children or are older than a
# minute (not one another guest is just moving into).
for old in "$BASE/cgroup${parent%/}"/kubevirt-lab-guest.*; do
  if [[ ! -d $old ]] || ! grep -qx 'populated 0' "$old/cgroup.events" 2>/dev/null; then continue; fi
  if [[ -n $(find "$old" -mindepth 1 -maxdepth 1 -type d -print -quit) || -n $(find "$old" -maxdepth 0 -mmin +1) ]]; then
    find "$old" -depth -type d -exec rmdir {} + 2>/dev/null || true
    [[ -d $old ]] || say "removed the cgroup of an earlier guest: ${old#"$BASE/cgroup"}"
  fi
done
cg=${parent%/}/kubevirt-lab-guest.$GUEST_NAMESPACE.$GUEST_NAME.$RANDOM
mkdir "$BASE/cgroup$cg"
echo "$cg" >"$PLAN/cgroup"
echo 0 >"$BASE/cgroup$cg/cgroup.procs"
umount "$BASE/cgroup"

touch "$DISK/.kubevirt-lab-disk"

# --- boot -------------------------------------------------------------------------------------
hostname "$GUEST_HOSTNAME"
# The guest's root is a mount of its own (systemd's service sandboxing needs / to be a mount
# point; the container's root, a chroot, is none): $R bound onto itself, made the root by
# pivot_root from a chroot into the guest's tmpfs (whose root is a mount point), the tmpfs then
# detached (what $R holds stays: the bind keeps it).
mount --rbind "$R" "$R"
for d in usr bin sbin lib lib32 lib64 libx32; do
  if [[ -e $R/$d || -L $R/$d ]]; then ln -s "root/$d" "$BASE/$d"; fi
done
# Then, in the new cgroup namespace: cgroup v2 at /sys/fs/cgroup before systemd starts, so that
# it runs in unified mode and never mounts the machine's v1 hierarchies (where it would make its
# cgroups at their roots: no cgroup namespace is rooted lower there). The guest's bounding set
# lacks the machine's clock, kernel modules and raw I/O: its root, sudo included, cannot get them.
# shellcheck disable=SC2016 # expanded by the inner shell
BOOT='cd /root && pivot_root . mnt && umount -l /mnt && mount -t cgroup2 kvl-guest-cgroup /sys/fs/cgroup && exec "$@"'
say "$GUEST_NAMESPACE/$GUEST_NAME: filesystem ready, starting systemd (cgroup $cg)"
exec unshare --cgroup chroot "$BASE" /bin/bash -c "$BOOT" boot \
  env -i container=kubevirt-lab SYSTEMD_PROC_CMDLINE=systemd.unified_cgroup_hierarchy=1 \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
  setpriv --bounding-set -sys_time,-sys_module,-sys_rawio /lib/systemd/systemd
