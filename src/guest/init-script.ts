// The userspace side of the default guest: busybox init runs as PID 1 (the kernel starts /init,
// a link to busybox), reads /etc/inittab, runs /etc/init.d/rcS once, then keeps a shell on the
// console. `poweroff` and `reboot` typed in that shell signal init (SIGUSR2 / SIGTERM), which
// runs the ::shutdown actions, stops every process and calls reboot(2) with POWER_OFF or
// RESTART: the VMM sees an ACPI S5 request or a reset.
//
// Test hooks, read from /proc/cmdline (dotted parameters are not passed to init as arguments or
// environment, so they reach only the scripts that read them):
//   tshv.run="CMD"       after the readiness line, run CMD with sh -c, print
//                        "tshv-guest: exit status N", then act as tshv.after says;
//   tshv.after=ACTION    poweroff (default), reboot, or shell (go on to the console shell).

/** Printed on the console once setup is done, just before the shell starts. */
export const GUEST_READY_LINE = 'tshv-guest: ready';
/** Printed after a tshv.run command, followed by its exit status. */
export const GUEST_EXIT_STATUS_PREFIX = 'tshv-guest: exit status ';
/** The file listing modules to load, one path a line relative to /lib/modules/<release>/. */
export const GUEST_MODULE_LIST_PATH = 'etc/tshv/modules';
export const GUEST_HOSTNAME = 'tshv';

/** busybox init's configuration (busybox examples/inittab documents the format). */
export function inittabText(): string {
  return `# tshv guest: busybox init runs rcS once, then keeps a shell on the console.
# cttyhack opens the real console tty (ttyS0, hvc0...) as the shell's controlling
# terminal, so job control and Ctrl-C work; -l makes sh a login shell (reads /etc/profile).
::sysinit:/etc/init.d/rcS
::respawn:/bin/cttyhack /bin/sh -l
::ctrlaltdel:/sbin/reboot
::shutdown:/etc/init.d/rcK
`;
}

/** /etc/init.d/rcS: mounts, modules, hostname, power button (acpid), readiness line, test hooks. */
export function rcSText(kernelRelease: string): string {
  return `#!/bin/sh
# tshv guest setup, run once by busybox init (::sysinit) before the console shell starts.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin

mount -t proc -o nosuid,nodev,noexec proc /proc
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
# The kernel has CONFIG_DEVTMPFS but not CONFIG_DEVTMPFS_MOUNT: mount it ourselves.
mount -t devtmpfs -o nosuid,mode=0755 devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o nosuid,noexec,gid=5,mode=620,ptmxmode=000 devpts /dev/pts
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /tmp
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr

# Applet links, if the image was built without them.
[ -e /bin/ls ] || /bin/busybox --install -s

hostname ${GUEST_HOSTNAME}

# Modules, dependencies first (the list was ordered at build time from each module's
# .modinfo "depends="). A module that fails is reported, not fatal.
moddir=/lib/modules/${kernelRelease}
if [ -f /${GUEST_MODULE_LIST_PATH} ]; then
  while read -r mod; do
    case "$mod" in ''|'#'*) continue ;; esac
    insmod "$moddir/$mod" 2>/dev/null || echo "tshv-guest: cannot load module $mod"
  done < /${GUEST_MODULE_LIST_PATH}
fi

# The power button: the ACPI fixed event reaches button.ko, which reports KEY_POWER on an input
# device (/dev/input/event*, evdev). busybox acpid reads every event device, maps KEY_POWER to
# "PWRF/00000080" and runs that file under its config directory: a polite poweroff, as the
# VMM's power-button request (control socket) asks. acpid daemonizes and logs to -l.
mkdir -p /etc/acpi/PWRF /var/log /var/run
printf '#!/bin/sh\\npoweroff\\n' > /etc/acpi/PWRF/00000080
chmod 755 /etc/acpi/PWRF/00000080
if [ -e /dev/input/event0 ]; then
  acpid -c /etc/acpi -l /var/log/acpid.log || echo "tshv-guest: cannot start acpid"
fi

echo "${GUEST_READY_LINE}"

# Prints the value of kernel parameter $1 (dots escaped) from /proc/cmdline; a value in
# double quotes may hold spaces.
cmdline_value() {
  sed -n -e "s/^\\(.* \\)\\{0,1\\}$1=\\"\\([^\\"]*\\)\\".*/\\2/p" -e t \\
    -e "s/^\\(.* \\)\\{0,1\\}$1=\\([^ ]*\\).*/\\2/p" /proc/cmdline
}

run=$(cmdline_value 'tshv\\.run')
if [ -n "$run" ]; then
  sh -c "$run"
  echo "${GUEST_EXIT_STATUS_PREFIX}$?"
  after=$(cmdline_value 'tshv\\.after')
  case "$after" in
    shell) ;;
    reboot) sync; reboot -f ;;
    *) sync; poweroff -f ;;
  esac
fi
exit 0
`;
}

/** /etc/init.d/rcK: run by init before it stops every process and powers off or reboots. */
export function rcKText(): string {
  return `#!/bin/sh
# tshv guest shutdown, run by busybox init (::shutdown) on poweroff, reboot and halt.
sync
umount -a -r 2>/dev/null
exit 0
`;
}

/** /etc/profile for the console's login shell. */
export function profileText(): string {
  return `export PATH=/sbin:/bin:/usr/sbin:/usr/bin
export HOME=/root
export PS1='\\u@\\h:\\w\\$ '
cd "$HOME"
`;
}

export function passwdText(): string {
  return 'root:x:0:0:root:/root:/bin/sh\n';
}

export function groupText(): string {
  return 'root:x:0:\ntty:x:5:\n';
}
