/* The kernel path's maps, as the BPF program (latch_fwd.bpf.c) and latchd's workers both see
 * them: one header, included from C (the program) and C++ (userspace). Plain fixed-size
 * structs; ports and addresses in network byte order, IPv4 addresses in the first 4 bytes of
 * their 16. */
#ifndef LATCH_MAPS_H
#define LATCH_MAPS_H

#include <linux/types.h>

#include "latch_quality.h"

#define LATCH_FLOWS_MAX 65536
#define LATCH_LOCKS_MAX 65536

/* A confirmed flow: a datagram from `remote` to the relay's `local` socket. */
struct latch_flow_key {
    __u8 family; /* AF_INET or AF_INET6 */
    __u8 pad;
    __be16 local_port;
    __be16 remote_port;
    __u16 pad2;
    __u8 local_addr[16];
    __u8 remote_addr[16];
};

#define LATCH_FLOW_RTCP 1 /* the flow's datagrams are RTCP (else RTP) */
#define LATCH_FLOW_MUX 2  /* RTP and RTCP share the port (the RTCP goes to userspace) */
/* The device the flow arrives on does not forward: the FIB would not answer, so the program
 * does not ask it and leaves by `ifindex` at once. */
#define LATCH_FLOW_OWN_ROUTE 4
/* The stream's quality figures are kept: the program measures what it forwards. */
#define LATCH_FLOW_MEASURE 8

/* What becomes of it: sent from the other leg's socket (src) to where its media goes (dst),
 * with the call's TOS; counted. */
struct latch_flow_action {
    __u8 flags; /* LATCH_FLOW_* */
    __u8 tos;
    __be16 src_port;
    __be16 dst_port;
    __u16 pad;
    /* The device that holds src_addr: where the datagram leaves when the FIB cannot be asked
     * (forwarding is off on the ingress device, as on most hosts that are no routers), with the
     * kernel's output route and neighbour lookup. 0: nowhere, userspace sends it. */
    __u32 ifindex;
    __u8 src_addr[16];
    __u8 dst_addr[16];
    __u32 pad4;
    __u64 packets; /* forwarded by the program */
    __u64 bytes;
    __u64 last_ns;   /* bpf_ktime_get_ns() of the last one */
    __u32 last_ssrc; /* the last RTP packet's SSRC and sequence number (host order), which */
    __u16 last_seq;  /* userspace needs to recognise the stream after a NAT rebinding */
    __u16 pad3;
    /* The RTP stream's figures since the program took it over: userspace writes the seed
     * (latch_quality_seed) with the entry and adds what it reads to its own. */
    struct latch_rtp_quality quality;
};

/* A locked stream: datagrams to `local` from another address than its learned source are
 * dropped and counted (a stranger); from the learned address on another port they go to
 * userspace, which decides about a NAT's rebinding. */
struct latch_lock_key {
    __u8 family;
    __u8 pad;
    __be16 local_port;
    __u8 local_addr[16];
};

struct latch_lock_value {
    __u8 remote_addr[16];
    __u64 drops;
};

/* The program forwards and drops only while bpf_ktime_get_ns() is below the one value of this
 * array. Attached by a tc filter (which outlives its process), latchd moves it forward every
 * second: if latchd dies, everything passes to the stack again within the grace period (a dead
 * relay's streams keep going between their own parties meanwhile, and a successor replaces the
 * filter at once). Attached by a TCX link, which dies with the process, it never expires. */
#define LATCH_ALIVE_GRACE_NS 10000000000ULL

#endif
