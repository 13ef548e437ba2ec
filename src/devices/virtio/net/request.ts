// The virtio-net frame header (virtio 1.2 §5.1.6): with VIRTIO_F_VERSION_1 every buffer starts
// with struct virtio_net_hdr_v1 (12 bytes, num_buffers included even without MRG_RXBUF). The TAP
// uses the same layout (TUNSETVNETHDRSZ 12), so frames pass through unchanged.

export const VIRTIO_NET_HDR_BYTES = 12;
/** Offsets in struct virtio_net_hdr_v1. */
export const NET_HDR_FLAGS = 0;
export const NET_HDR_GSO_TYPE = 1;
export const NET_HDR_NUM_BUFFERS = 10;
export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
export const VIRTIO_NET_HDR_GSO_NONE = 0;
/** Largest frame we move: a 64 KiB GSO packet, its Ethernet and VLAN headers, and the vnet header. */
export const NET_MAX_FRAME_BYTES = VIRTIO_NET_HDR_BYTES + 65535 + 14 + 4;
