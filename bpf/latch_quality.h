/* One RTP stream's sequence accounting (RFC 3550 appendix A.1), duplicates, reordering, longest
 * gap and silence, and interarrival jitter (A.8): the state and the one update, shared by the
 * kernel path's program and latchd's workers, so that a stream's figures are the same whichever
 * forwards it. Integer operations only, no loop, no division: fit for the BPF verifier. */
#ifndef LATCH_QUALITY_H
#define LATCH_QUALITY_H

#include <linux/types.h>

#ifdef __cplusplus
#define LATCH_QUALITY_FN static inline
#else
#define LATCH_QUALITY_FN static __always_inline
#endif

/* A jump forward beyond this, or back beyond LATCH_MAX_MISORDER, is a restart of the sender's
 * numbering if the next packet follows it (RFC 3550 A.1's limits). */
#define LATCH_MAX_DROPOUT 3000
#define LATCH_MAX_MISORDER 100
#define LATCH_SEQ_WINDOW 64              /* sequence numbers remembered, for duplicates */
#define LATCH_NO_BAD_SEQ 0x10000         /* no sequence number is this */
#define LATCH_JITTER_MAX_TICKS (1 << 24) /* timestamps further apart: a new jitter baseline */

struct latch_rtp_quality {
    /* The current run: one SSRC, sequence numbers without a restart. */
    __u32 ssrc;
    __u16 max_seq;
    __u8 started;
    __u8 have_last;   /* a timed packet to measure the next one against */
    __u32 bad_seq;    /* LATCH_NO_BAD_SEQ: none */
    __s32 timed_type; /* the payload type jitter is measured on; -1: none yet */
    __s64 cycles;     /* sequence wraps, times 65536 */
    __s64 base_seq;   /* the run's first extended sequence number */
    __u64 run_received;
    __u64 seen; /* bit i: max_seq - i arrived */
    /* Over the stream. */
    __u64 past_expected; /* earlier runs */
    __u64 past_received;
    __u64 duplicates;
    __u64 reordered;
    __u32 longest_gap; /* most sequence numbers one packet skipped */
    __u32 restarts;    /* a new SSRC, or a jump the sender then kept to */
    __u64 first_arrival_ns;
    __u64 last_arrival_ns;
    __u64 longest_silence_ns;
    /* Jitter, in nanoseconds times 16 (A.8's scaled form), on timed_type's clock. */
    __u64 ns_per_tick_q16; /* 1e9 / clock rate, 16.16 fixed point; 0: no clock, no jitter */
    __u32 last_timestamp;
    __u32 pad;
    __u64 last_timed_ns;
    __u64 jitter_q4;
    __u64 max_jitter_q4;
};

LATCH_QUALITY_FN void latch_quality_start(struct latch_rtp_quality* q, __u32 ssrc, __u16 seq) {
    q->started = 1;
    q->ssrc = ssrc;
    q->max_seq = seq;
    q->cycles = 0;
    q->base_seq = seq;
    q->bad_seq = LATCH_NO_BAD_SEQ;
    q->run_received = 1;
    q->seen = 1;
    q->have_last = 0; /* another source's clock: jitter starts again from here */
}

LATCH_QUALITY_FN __u64 latch_quality_run_expected(const struct latch_rtp_quality* q) {
    return q->started ? (__u64)(q->cycles + q->max_seq - q->base_seq + 1) : 0;
}

/* The current run's counts into the stream's, before a restart. */
LATCH_QUALITY_FN void latch_quality_fold(struct latch_rtp_quality* q) {
    q->past_expected += latch_quality_run_expected(q);
    q->past_received += q->run_received;
    q->restarts += 1;
}

LATCH_QUALITY_FN void latch_quality_jitter(struct latch_rtp_quality* q, __u32 timestamp,
                                           __u8 payload_type, __u64 arrival_ns) {
    if ((__s32)payload_type != q->timed_type || q->ns_per_tick_q16 == 0) return;
    if (q->have_last) {
        __s64 ticks = (__s32)(timestamp - q->last_timestamp);
        if (ticks > -LATCH_JITTER_MAX_TICKS && ticks < LATCH_JITTER_MAX_TICKS) {
            __u64 magnitude = (__u64)(ticks < 0 ? -ticks : ticks);
            __s64 media_ns = (__s64)((magnitude * q->ns_per_tick_q16) >> 16);
            if (ticks < 0) media_ns = -media_ns;
            __s64 d = (__s64)(arrival_ns - q->last_timed_ns) - media_ns;
            __u64 abs_d = (__u64)(d < 0 ? -d : d);
            /* J += (|D| - J) / 16, with J kept times 16 */
            q->jitter_q4 = q->jitter_q4 + abs_d - ((q->jitter_q4 + 8) >> 4);
            if (q->jitter_q4 > q->max_jitter_q4) q->max_jitter_q4 = q->jitter_q4;
        }
    }
    q->have_last = 1;
    q->last_timestamp = timestamp;
    q->last_timed_ns = arrival_ns;
}

/* One RTP packet of the stream, arrived at `arrival_ns` (CLOCK_MONOTONIC). */
LATCH_QUALITY_FN void latch_quality_on_rtp(struct latch_rtp_quality* q, __u32 ssrc, __u16 seq,
                                           __u32 timestamp, __u8 payload_type, __u64 arrival_ns) {
    if (q->first_arrival_ns == 0) q->first_arrival_ns = arrival_ns;
    if (q->last_arrival_ns != 0 && arrival_ns > q->last_arrival_ns &&
        arrival_ns - q->last_arrival_ns > q->longest_silence_ns)
        q->longest_silence_ns = arrival_ns - q->last_arrival_ns;
    q->last_arrival_ns = arrival_ns;

    if (!q->started || ssrc != q->ssrc) {
        if (q->started) latch_quality_fold(q);
        latch_quality_start(q, ssrc, seq);
        latch_quality_jitter(q, timestamp, payload_type, arrival_ns);
        return;
    }
    __u16 ahead = (__u16)(seq - q->max_seq);
    if (ahead == 0) {
        q->duplicates += 1;
        return;
    }
    if (ahead < LATCH_MAX_DROPOUT) {
        if (seq < q->max_seq) q->cycles += 65536;
        q->max_seq = seq;
        q->seen = ahead >= LATCH_SEQ_WINDOW ? 1 : (q->seen << ahead) | 1;
        if (ahead - 1u > q->longest_gap) q->longest_gap = ahead - 1u;
        q->run_received += 1;
        q->bad_seq = LATCH_NO_BAD_SEQ;
    } else if (ahead <= 65536 - LATCH_MAX_MISORDER) {
        /* A jump: a restart of the sender only if the next packet follows on from it. */
        if (seq != q->bad_seq) {
            q->bad_seq = (seq + 1u) & 0xffffu;
            return;
        }
        /* The run starts at the packet before, which is counted now. */
        latch_quality_fold(q);
        latch_quality_start(q, ssrc, (__u16)(seq - 1u));
        q->max_seq = seq;
        if (seq == 0) q->cycles = 65536;
        q->seen = 3;
        q->run_received = 2;
    } else {
        /* Behind the newest: late, or a duplicate of one the window remembers. */
        __u16 back = (__u16)(q->max_seq - seq);
        if (back < LATCH_SEQ_WINDOW) {
            __u64 bit = 1ULL << back;
            if (q->seen & bit) {
                q->duplicates += 1;
                return;
            }
            q->seen |= bit;
        }
        q->reordered += 1;
        q->run_received += 1;
        /* Before the run's first packet (which was itself late): the run starts earlier. */
        __s64 extended = q->cycles + seq - (seq > q->max_seq ? 65536 : 0);
        if (extended < q->base_seq) q->base_seq = extended;
    }
    latch_quality_jitter(q, timestamp, payload_type, arrival_ns);
}

/* `later` is what another forwarder (the kernel path) measured of the same stream after `q`'s
 * last packet, from a state that started empty with q's clock and jitter: `q` becomes the
 * stream's state as if it alone had seen both. */
LATCH_QUALITY_FN void latch_quality_absorb(struct latch_rtp_quality* q,
                                           const struct latch_rtp_quality* later) {
    if (!later->started) return;
    __u64 silence = 0;
    if (q->last_arrival_ns != 0 && later->first_arrival_ns > q->last_arrival_ns)
        silence = later->first_arrival_ns - q->last_arrival_ns;
    __u64 gap = 0;
    int restart = 0;
    if (q->started) {
        if (later->ssrc != q->ssrc) {
            restart = 1;
        } else {
            /* Forward a little: the sequence numbers between went missing. Forward far: the
             * sender restarted its numbering. Back a little (reordered across the change) or
             * the same: nothing between. */
            __u16 ahead = (__u16)((__u16)later->base_seq - q->max_seq);
            if (ahead > 0 && ahead < LATCH_MAX_DROPOUT)
                gap = ahead - 1u;
            else if (ahead >= LATCH_MAX_DROPOUT && ahead <= 65536 - LATCH_MAX_MISORDER)
                restart = 1;
        }
    }
    __u64 expected = latch_quality_run_expected(q) + q->past_expected + gap;
    __u64 received = q->run_received + q->past_received;
    __u64 duplicates = q->duplicates + later->duplicates;
    __u64 reordered = q->reordered + later->reordered;
    __u32 longest_gap = q->longest_gap > later->longest_gap ? q->longest_gap : later->longest_gap;
    if (gap > longest_gap) longest_gap = (__u32)gap;
    __u32 restarts = q->restarts + later->restarts + (__u32)restart;
    __u64 longest_silence = q->longest_silence_ns > later->longest_silence_ns
                                ? q->longest_silence_ns
                                : later->longest_silence_ns;
    if (silence > longest_silence) longest_silence = silence;
    __u64 first_arrival = q->first_arrival_ns ? q->first_arrival_ns : later->first_arrival_ns;
    __u64 max_jitter =
        q->max_jitter_q4 > later->max_jitter_q4 ? q->max_jitter_q4 : later->max_jitter_q4;
    *q = *later;
    q->past_expected = expected + later->past_expected;
    q->past_received = received + later->past_received;
    q->duplicates = duplicates;
    q->reordered = reordered;
    q->longest_gap = longest_gap;
    q->restarts = restarts;
    q->longest_silence_ns = longest_silence;
    q->first_arrival_ns = first_arrival;
    q->max_jitter_q4 = max_jitter;
}

/* What another forwarder starts from to take the stream over: nothing counted yet, and the
 * stream's clock and jitter so far. */
LATCH_QUALITY_FN void latch_quality_seed(struct latch_rtp_quality* seed,
                                         const struct latch_rtp_quality* q) {
    __builtin_memset(seed, 0, sizeof *seed);
    seed->bad_seq = LATCH_NO_BAD_SEQ;
    seed->timed_type = q->timed_type;
    seed->ns_per_tick_q16 = q->ns_per_tick_q16;
    seed->jitter_q4 = q->jitter_q4;
}

#endif
