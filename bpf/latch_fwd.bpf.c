// SPDX-License-Identifier: BSD-2-Clause
/* The kernel path: a tc ingress program on the relay's interfaces. A datagram of a flow that
 * userspace confirmed (the flows map) is checked as RTP or RTCP the way userspace checks it,
 * rewritten to leave from the other leg's socket toward where its media goes (addresses, ports,
 * TOS, checksums), and redirected by the kernel's FIB and neighbour tables. A datagram from
 * another address to a locked stream is dropped and counted. Everything else (first packets,
 * a NAT's rebinding candidates, non-RTP, fragments, IP options, what the FIB cannot place)
 * passes to the socket untouched, for userspace to decide. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "latch_maps.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, LATCH_FLOWS_MAX);
    __type(key, struct latch_flow_key);
    __type(value, struct latch_flow_action);
} latch_flows SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, LATCH_LOCKS_MAX);
    __type(key, struct latch_lock_key);
    __type(value, struct latch_lock_value);
} latch_locks SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} latch_alive SEC(".maps");

#define ETH_LEN sizeof(struct ethhdr)
#define IP4_LEN sizeof(struct iphdr)
#define IP6_LEN sizeof(struct ipv6hdr)
#define UDP_LEN sizeof(struct udphdr)
#define IP4_CSUM_OFF (ETH_LEN + __builtin_offsetof(struct iphdr, check))
#define IP4_TOS_OFF (ETH_LEN + __builtin_offsetof(struct iphdr, tos))
#define IP4_SRC_OFF (ETH_LEN + __builtin_offsetof(struct iphdr, saddr))
#define IP4_DST_OFF (ETH_LEN + __builtin_offsetof(struct iphdr, daddr))
#define IP6_SRC_OFF (ETH_LEN + __builtin_offsetof(struct ipv6hdr, saddr))
#define IP6_DST_OFF (ETH_LEN + __builtin_offsetof(struct ipv6hdr, daddr))

/* What an RTP header says, for the stream's figures. */
struct rtp_head {
    __u32 ssrc;
    __u32 timestamp;
    __u16 seq;
    __u8 payload_type;
    __u8 rtp; /* 0: RTCP, nothing to count */
};

/* The userspace checks of rtp.cpp, on the first bytes of the payload: version 2, and for RTP
 * the header (CSRCs, extension) within the datagram, for RTCP the first packet's length. */
static __always_inline int valid_media(struct __sk_buff* skb, __u32 off, __u32 len,
                                       struct latch_flow_action* a, struct rtp_head* h) {
    __u8 flags = a->flags;
    __u8 head[8];
    if (len < 8 || bpf_skb_load_bytes(skb, off, head, sizeof head) < 0) return 0;
    if ((head[0] >> 6) != 2) return 0;
    /* RTCP goes to userspace, which reads its reports for the call's quality figures: one
     * datagram every few seconds per stream. */
    if (head[1] >= 192 && head[1] <= 223) return 0;
    if ((flags & LATCH_FLOW_RTCP) && !(flags & LATCH_FLOW_MUX)) return 0;
    __u32 header = 12 + 4u * (head[0] & 0x0f);
    if (len < 12 || header > len) return 0;
    if (head[0] & 0x10) { /* an extension: 4-byte preamble, then its length in words */
        __u8 ext[4];
        if (header + 4 > len ||
            bpf_skb_load_bytes(skb, off + (header & 0x7ff), ext, sizeof ext) < 0)
            return 0;
        header += 4 + 4u * (((__u32)ext[2]) << 8 | ext[3]);
        if (header > len) return 0;
    }
    if (head[0] & 0x20) { /* padding: the last octet counts it */
        __u8 pad;
        if (bpf_skb_load_bytes(skb, off + ((len - 1) & 0xffff), &pad, 1) < 0) return 0;
        if (pad == 0 || header + pad > len) return 0;
    }
    __be32 ssrc;
    if (bpf_skb_load_bytes(skb, off + 8, &ssrc, sizeof ssrc) < 0) return 0;
    h->rtp = 1;
    h->ssrc = bpf_ntohl(ssrc);
    h->seq = ((__u16)head[2]) << 8 | head[3];
    h->payload_type = head[1] & 0x7f;
    h->timestamp =
        ((__u32)head[4]) << 24 | ((__u32)head[5]) << 16 | ((__u32)head[6]) << 8 | head[7];
    a->last_ssrc = h->ssrc;
    a->last_seq = h->seq;
    return 1;
}

static __always_inline int drop_stranger(struct latch_lock_key* lk, const __u8* remote, __u32 n) {
    struct latch_lock_value* lock = bpf_map_lookup_elem(&latch_locks, lk);
    if (!lock) return TC_ACT_OK;
    for (__u32 i = 0; i < 16; i++) {
        if (i < n && lock->remote_addr[i] != remote[i]) {
            __sync_fetch_and_add(&lock->drops, 1);
            return TC_ACT_SHOT;
        }
    }
    return TC_ACT_OK; /* the learned address, another port: userspace decides (rebinding) */
}

static __always_inline void count(struct latch_flow_action* a, __u32 bytes,
                                  const struct rtp_head* h) {
    __u64 now = bpf_ktime_get_ns();
    __sync_fetch_and_add(&a->packets, 1);
    __sync_fetch_and_add(&a->bytes, bytes);
    a->last_ns = now;
    /* A stream's datagrams arrive on one queue, so on one CPU at a time: no lock. */
    if (h->rtp && (a->flags & LATCH_FLOW_MEASURE))
        latch_quality_on_rtp(&a->quality, h->ssrc, h->seq, h->timestamp, h->payload_type, now);
}

/* How the datagram will leave: 1 by the FIB's answer, 0 by the device that holds the relay's
 * address with the kernel's own output route (a host that does not forward, where the FIB will
 * not answer), -1 not at all (unreachable, local, too big...: userspace decides). */
static __always_inline int route(struct __sk_buff* skb, struct bpf_fib_lookup* fib,
                                 struct latch_flow_action* a) {
    if (a->flags & LATCH_FLOW_OWN_ROUTE) return a->ifindex ? 0 : -1;
    switch (bpf_fib_lookup(skb, fib, sizeof *fib, 0)) {
        case BPF_FIB_LKUP_RET_SUCCESS:
            return 1;
        case BPF_FIB_LKUP_RET_FWD_DISABLED:
        case BPF_FIB_LKUP_RET_NO_NEIGH:
            return a->ifindex ? 0 : -1;
        default:
            return -1;
    }
}

/* Out of the device the FIB named, to its neighbour; or, where the FIB would not say (forwarding
 * off), out of the device that holds the relay's address, the kernel resolving route and
 * neighbour as for the relay's own datagrams. */
static __always_inline int leave(struct __sk_buff* skb, struct bpf_fib_lookup* fib, int via_fib,
                                 __u32 ifindex) {
    if (!via_fib) return bpf_redirect_neigh(ifindex, 0, 0, 0);
    bpf_skb_store_bytes(skb, 0, fib->dmac, ETH_ALEN, 0);
    bpf_skb_store_bytes(skb, ETH_ALEN, fib->smac, ETH_ALEN, 0);
    return bpf_redirect(fib->ifindex, 0);
}

static __always_inline int forward4(struct __sk_buff* skb, struct iphdr* ip, struct udphdr* udp,
                                    struct latch_flow_action* a, const struct rtp_head* h) {
    struct bpf_fib_lookup fib = {};
    fib.family = AF_INET;
    fib.tos = a->tos;
    fib.l4_protocol = IPPROTO_UDP;
    fib.sport = a->src_port;
    fib.dport = a->dst_port;
    fib.tot_len = bpf_ntohs(ip->tot_len);
    __builtin_memcpy(&fib.ipv4_src, a->src_addr, 4);
    __builtin_memcpy(&fib.ipv4_dst, a->dst_addr, 4);
    fib.ifindex = skb->ingress_ifindex;
    int via_fib = route(skb, &fib, a);
    if (via_fib < 0) return TC_ACT_OK;

    /* One checksum difference per change: the addresses (in the UDP pseudo header and the IP
     * header), the ports (UDP header), the TOS (IP header). */
    __be32 old_addrs[2] = {ip->saddr, ip->daddr}, new_addrs[2];
    __builtin_memcpy(&new_addrs[0], a->src_addr, 4);
    __builtin_memcpy(&new_addrs[1], a->dst_addr, 4);
    __be16 old_ports[2] = {udp->source, udp->dest}, new_ports[2] = {a->src_port, a->dst_port};
    int udp_csum = udp->check != 0;
    __be32 old_word = *(__be32*)ip, new_word = old_word; /* version, IHL, TOS, length */
    ((__u8*)&new_word)[1] = a->tos;
    __s64 addrs = bpf_csum_diff(old_addrs, 8, new_addrs, 8, 0);
    __u32 csum_off = ETH_LEN + IP4_LEN + __builtin_offsetof(struct udphdr, check);
    if (udp_csum) {
        bpf_l4_csum_replace(skb, csum_off, 0, addrs, BPF_F_PSEUDO_HDR);
        __s64 ports = bpf_csum_diff((__be32*)old_ports, 4, (__be32*)new_ports, 4, 0);
        bpf_l4_csum_replace(skb, csum_off, 0, ports, 0);
    }
    __s64 header = bpf_csum_diff(&old_word, 4, &new_word, 4, addrs);
    bpf_l3_csum_replace(skb, IP4_CSUM_OFF, 0, header, 0);
    bpf_skb_store_bytes(skb, ETH_LEN, &new_word, 2, 0);
    bpf_skb_store_bytes(skb, IP4_SRC_OFF, new_addrs, 8, 0);
    bpf_skb_store_bytes(skb, ETH_LEN + IP4_LEN, new_ports, 4, 0);
    count(a, skb->len - ETH_LEN - IP4_LEN - UDP_LEN, h);
    return leave(skb, &fib, via_fib, a->ifindex);
}

static __always_inline int forward6(struct __sk_buff* skb, struct ipv6hdr* ip, struct udphdr* udp,
                                    struct latch_flow_action* a, const struct rtp_head* h) {
    struct bpf_fib_lookup fib = {};
    fib.family = AF_INET6;
    fib.l4_protocol = IPPROTO_UDP;
    fib.sport = a->src_port;
    fib.dport = a->dst_port;
    fib.tot_len = bpf_ntohs(ip->payload_len) + IP6_LEN;
    __builtin_memcpy(fib.ipv6_src, a->src_addr, 16);
    __builtin_memcpy(fib.ipv6_dst, a->dst_addr, 16);
    fib.ifindex = skb->ingress_ifindex;
    int via_fib = route(skb, &fib, a);
    if (via_fib < 0) return TC_ACT_OK;

    /* Everything read from the packet is read first: the checksum helpers invalidate packet
     * pointers. UDP over IPv6 always carries a checksum: the pseudo header's addresses and the
     * ports change it by their difference. */
    __be16 old_sport = udp->source, old_dport = udp->dest;
    __u8 first[2];
    __builtin_memcpy(first, ip, 2);
    __u8 old_addrs[32];
    __builtin_memcpy(old_addrs, &ip->saddr, 16);
    __builtin_memcpy(old_addrs + 16, &ip->daddr, 16);
    __u8 new_addrs[32];
    __builtin_memcpy(new_addrs, a->src_addr, 16);
    __builtin_memcpy(new_addrs + 16, a->dst_addr, 16);
    __s64 diff = bpf_csum_diff((__be32*)old_addrs, 32, (__be32*)new_addrs, 32, 0);
    __u32 csum_off = ETH_LEN + IP6_LEN + __builtin_offsetof(struct udphdr, check);
    bpf_l4_csum_replace(skb, csum_off, 0, diff, BPF_F_PSEUDO_HDR);
    bpf_l4_csum_replace(skb, csum_off, old_sport, a->src_port, sizeof(__be16));
    bpf_l4_csum_replace(skb, csum_off, old_dport, a->dst_port, sizeof(__be16));
    /* The traffic class straddles the first two bytes, beside the version and flow label. */
    first[0] = (first[0] & 0xf0) | (a->tos >> 4);
    first[1] = (first[1] & 0x0f) | (__u8)(a->tos << 4);
    bpf_skb_store_bytes(skb, ETH_LEN, first, 2, 0);
    bpf_skb_store_bytes(skb, IP6_SRC_OFF, a->src_addr, 16, 0);
    bpf_skb_store_bytes(skb, IP6_DST_OFF, a->dst_addr, 16, 0);
    bpf_skb_store_bytes(skb, ETH_LEN + IP6_LEN, &a->src_port, 2, 0);
    bpf_skb_store_bytes(skb, ETH_LEN + IP6_LEN + 2, &a->dst_port, 2, 0);
    count(a, skb->len - ETH_LEN - IP6_LEN - UDP_LEN, h);
    return leave(skb, &fib, via_fib, a->ifindex);
}

SEC("tc")
int latch_ingress(struct __sk_buff* skb) {
    void* data = (void*)(long)skb->data;
    void* end = (void*)(long)skb->data_end;
    struct ethhdr* eth = data;
    if ((void*)(eth + 1) > end) return TC_ACT_OK;
    __u32 zero = 0;
    __u64* alive = bpf_map_lookup_elem(&latch_alive, &zero);
    if (!alive || bpf_ktime_get_ns() > *alive) return TC_ACT_OK; /* latchd is gone: inert */

    struct latch_flow_key key = {};
    struct latch_lock_key lk = {};
    if (eth->h_proto == bpf_htons(ETH_P_IP)) {
        struct iphdr* ip = (void*)(eth + 1);
        if ((void*)(ip + 1) > end) return TC_ACT_OK;
        /* No options, no fragments: userspace sees those. */
        if (ip->ihl != 5 || ip->protocol != IPPROTO_UDP || (ip->frag_off & bpf_htons(0x3fff)))
            return TC_ACT_OK;
        struct udphdr* udp = (void*)(ip + 1);
        if ((void*)(udp + 1) > end) return TC_ACT_OK;
        __u32 udp_len = bpf_ntohs(udp->len);
        if (udp_len < UDP_LEN || ETH_LEN + IP4_LEN + udp_len > skb->len) return TC_ACT_OK;
        key.family = AF_INET;
        key.local_port = udp->dest;
        key.remote_port = udp->source;
        __builtin_memcpy(key.local_addr, &ip->daddr, 4);
        __builtin_memcpy(key.remote_addr, &ip->saddr, 4);
        struct latch_flow_action* a = bpf_map_lookup_elem(&latch_flows, &key);
        if (!a) {
            lk.family = AF_INET;
            lk.local_port = udp->dest;
            __builtin_memcpy(lk.local_addr, &ip->daddr, 4);
            return drop_stranger(&lk, key.remote_addr, 4);
        }
        struct rtp_head h = {};
        if (!valid_media(skb, ETH_LEN + IP4_LEN + UDP_LEN, udp_len - UDP_LEN, a, &h))
            return TC_ACT_OK;
        return forward4(skb, ip, udp, a, &h);
    }
    if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
        struct ipv6hdr* ip = (void*)(eth + 1);
        if ((void*)(ip + 1) > end) return TC_ACT_OK;
        if (ip->nexthdr != IPPROTO_UDP) return TC_ACT_OK; /* extension headers: userspace */
        struct udphdr* udp = (void*)(ip + 1);
        if ((void*)(udp + 1) > end) return TC_ACT_OK;
        __u32 udp_len = bpf_ntohs(udp->len);
        if (udp_len < UDP_LEN || ETH_LEN + IP6_LEN + udp_len > skb->len) return TC_ACT_OK;
        key.family = AF_INET6;
        key.local_port = udp->dest;
        key.remote_port = udp->source;
        __builtin_memcpy(key.local_addr, &ip->daddr, 16);
        __builtin_memcpy(key.remote_addr, &ip->saddr, 16);
        struct latch_flow_action* a = bpf_map_lookup_elem(&latch_flows, &key);
        if (!a) {
            lk.family = AF_INET6;
            lk.local_port = udp->dest;
            __builtin_memcpy(lk.local_addr, &ip->daddr, 16);
            return drop_stranger(&lk, key.remote_addr, 16);
        }
        struct rtp_head h = {};
        if (!valid_media(skb, ETH_LEN + IP6_LEN + UDP_LEN, udp_len - UDP_LEN, a, &h))
            return TC_ACT_OK;
        return forward6(skb, ip, udp, a, &h);
    }
    return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
