// The default guest: Debian kernel + busybox initramfs, built from Debian packages and cached.
export {
  DEFAULT_GUEST_MODULES,
  GUEST_BUSYBOX_PACKAGE,
  GUEST_INITRD_FILE,
  GUEST_KERNEL_FILE,
  GUEST_KERNEL_METAPACKAGES,
  GUEST_MANIFEST_FILE,
  ensureDefaultGuest,
  findCachedGuest,
  guestRecipeHash,
  isBzImage,
  isGuestFlavour,
  tshvHome,
  validateGuestDir,
  type EnsureGuestOptions,
  type GuestFileRecord,
  type GuestFlavour,
  type GuestImage,
  type GuestManifest,
} from './build.js';
export { CpioWriter, gzipArchive, type CpioEntryOptions, type CpioWriterOptions } from './cpio.js';
export { readCpio, type CpioEntry } from './cpio-reader.js';
export { GUEST_EXIT_STATUS_PREFIX, GUEST_READY_LINE } from './init-script.js';
export { KernelModuleTree, readModinfo } from './kernel-modules.js';
