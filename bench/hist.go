package bench

import (
	"math/bits"
	"time"
)

// hist is a log-linear latency histogram: 32 sub-buckets per power of two,
// so a quantile is within about 3% of the true value. Not safe for
// concurrent use; each worker keeps its own and they are merged.
type hist struct {
	n      uint64
	counts [(64 - histSubBits + 1) << histSubBits]uint64
}

const histSubBits = 5

func histBucket(v uint64) int {
	if v < 1<<histSubBits {
		return int(v)
	}
	e := bits.Len64(v) - 1
	sub := (v >> (e - histSubBits)) & (1<<histSubBits - 1)
	return (e-histSubBits+1)<<histSubBits + int(sub)
}

// histLow returns the smallest value of bucket i.
func histLow(i int) uint64 {
	if i < 1<<histSubBits {
		return uint64(i)
	}
	e := i>>histSubBits + histSubBits - 1
	sub := uint64(i & (1<<histSubBits - 1))
	return 1<<e | sub<<(e-histSubBits)
}

func (h *hist) add(d time.Duration) {
	h.counts[histBucket(uint64(max(d, 0)))]++
	h.n++
}

func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// quantile returns the q-quantile (0 < q <= 1) as the middle of its
// bucket, or 0 for an empty histogram.
func (h *hist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = min(max(rank, 1), h.n)
	var cum uint64
	for i, c := range h.counts {
		cum += c
		if cum >= rank {
			lo := histLow(i)
			hi := lo + 1
			if i+1 < len(h.counts) {
				hi = histLow(i + 1)
			}
			return time.Duration(lo + (hi-lo)/2)
		}
	}
	return 0
}
