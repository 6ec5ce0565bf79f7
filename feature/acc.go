package feature

import "math"

// acc is one feature's running aggregate over the values in its window.
// Events arrive through push in canonical order and leave through pop in the
// same order, first in first out, so pop always removes the oldest event
// still held. Only events whose value the feature can use are offered. An
// acc reads the value from es itself, and may keep indexes into es: the
// cursor restarts whenever the State changes, so they stay valid. result
// gets n, the number of events held.
type acc interface {
	push(es []entry, i int)
	pop(es []entry, i int)
	result(es []entry, n int) Value
	reset()
}

func newAcc(p *plan) acc {
	switch p.agg {
	case AggSum:
		return &sumAcc{slot: p.slot}
	case AggMean:
		return &sumAcc{slot: p.slot, mean: true}
	case AggMin:
		return &extremeAcc{slot: p.slot}
	case AggMax:
		return &extremeAcc{slot: p.slot, max: true}
	case AggFirst:
		return &firstAcc{slot: p.slot, bounded: p.bounded}
	case AggLast:
		return &lastAcc{slot: p.slot}
	case AggCountDistinct:
		return newDistinctAcc(p.slot)
	}
	return countAcc{}
}

// countAcc needs nothing but n.
type countAcc struct{}

func (countAcc) push([]entry, int)             {}
func (countAcc) pop([]entry, int)              {}
func (countAcc) reset()                        {}
func (countAcc) result(_ []entry, n int) Value { return Number(float64(n)) }

// sumAcc keeps an exact sum; the mean is the rounded sum divided by n.
type sumAcc struct {
	sum  exactSum
	slot int
	mean bool
}

func (a *sumAcc) push(es []entry, i int) { a.sum.add(es[i].vals[a.slot].Num) }
func (a *sumAcc) pop(es []entry, i int)  { a.sum.sub(es[i].vals[a.slot].Num) }
func (a *sumAcc) reset()                 { a.sum = exactSum{} }

func (a *sumAcc) result(_ []entry, n int) Value {
	if n == 0 {
		return Value{}
	}
	s := a.sum.float()
	if a.mean {
		s /= float64(n)
	}
	return Number(s)
}

// extremeAcc keeps the candidates for the minimum (or maximum) in a
// monotonic queue: each value is dropped from the back once a later value
// better than it arrives, since it can never be the answer again. Equal
// values are kept, so pop can match the front by its bits.
type extremeAcc struct {
	q    queue[float64]
	slot int
	max  bool
}

// worse reports whether x can no longer be the answer once y has arrived.
func (a *extremeAcc) worse(x, y float64) bool {
	if a.max {
		return numLess(x, y)
	}
	return numLess(y, x)
}

func (a *extremeAcc) push(es []entry, i int) {
	x := es[i].vals[a.slot].Num
	for a.q.len() > 0 && a.worse(a.q.back(), x) {
		a.q.popBack()
	}
	a.q.pushBack(x)
}

func (a *extremeAcc) pop(es []entry, i int) {
	x := es[i].vals[a.slot].Num
	if a.q.len() > 0 && math.Float64bits(a.q.front()) == math.Float64bits(x) {
		a.q.popFront()
	}
}

func (a *extremeAcc) reset() { a.q.reset() }

func (a *extremeAcc) result(_ []entry, n int) Value {
	if n == 0 {
		return Value{}
	}
	return Number(a.q.front())
}

// firstAcc keeps the indexes of the events in the window in order; the
// first is the front. An unbounded window never pops, so it keeps only one.
type firstAcc struct {
	q       queue[int]
	slot    int
	bounded bool
}

func (a *firstAcc) push(_ []entry, i int) {
	if a.bounded || a.q.len() == 0 {
		a.q.pushBack(i)
	}
}

func (a *firstAcc) pop([]entry, int) { a.q.popFront() }
func (a *firstAcc) reset()           { a.q.reset() }

func (a *firstAcc) result(es []entry, n int) Value {
	if n == 0 {
		return Value{}
	}
	return es[a.q.front()].vals[a.slot]
}

// lastAcc keeps the newest event: pops take the oldest, so while any event
// is held the newest one is still in the window.
type lastAcc struct {
	i    int
	slot int
}

func (a *lastAcc) push(_ []entry, i int) { a.i = i }
func (a *lastAcc) pop([]entry, int)      {}
func (a *lastAcc) reset()                {}

func (a *lastAcc) result(es []entry, n int) Value {
	if n == 0 {
		return Value{}
	}
	return es[a.i].vals[a.slot]
}

// distinctAcc counts how often each distinct value is held, with one map
// per kind: same kind and same value is one value, and numbers compare by
// value, so 0 and -0 are one.
type distinctAcc struct {
	nums  map[uint64]int
	strs  map[string]int
	bools [2]int
	slot  int
}

func newDistinctAcc(slot int) *distinctAcc {
	return &distinctAcc{nums: make(map[uint64]int), strs: make(map[string]int), slot: slot}
}

func (a *distinctAcc) push(es []entry, i int) {
	v := &es[i].vals[a.slot]
	switch v.Kind {
	case KindNumber:
		a.nums[numKey(v.Num)]++
	case KindString:
		a.strs[v.Str]++
	case KindBool:
		a.bools[boolIndex(v.Bool)]++
	}
}

func (a *distinctAcc) pop(es []entry, i int) {
	v := &es[i].vals[a.slot]
	switch v.Kind {
	case KindNumber:
		release(a.nums, numKey(v.Num))
	case KindString:
		release(a.strs, v.Str)
	case KindBool:
		a.bools[boolIndex(v.Bool)]--
	}
}

// numKey is a number's identity for counting: its bits, with -0 as 0.
func numKey(x float64) uint64 {
	if x == 0 {
		return 0
	}
	return math.Float64bits(x)
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

// release takes one count of k out of m, deleting k when none is left.
func release[K comparable](m map[K]int, k K) {
	if m[k] <= 1 {
		delete(m, k)
		return
	}
	m[k]--
}

func (a *distinctAcc) reset() {
	clear(a.nums)
	clear(a.strs)
	a.bools = [2]int{}
}

func (a *distinctAcc) result([]entry, int) Value {
	n := len(a.nums) + len(a.strs)
	for _, b := range a.bools {
		if b > 0 {
			n++
		}
	}
	return Number(float64(n))
}

// queue is a slice used as a double-ended queue that only grows at the back.
type queue[T any] struct {
	buf  []T
	head int
}

func (q *queue[T]) len() int { return len(q.buf) - q.head }
func (q *queue[T]) front() T { return q.buf[q.head] }
func (q *queue[T]) back() T  { return q.buf[len(q.buf)-1] }

func (q *queue[T]) pushBack(x T) {
	// Reclaim the dead front once it is at least half of the slice.
	if q.head >= 16 && 2*q.head >= len(q.buf) {
		n := copy(q.buf, q.buf[q.head:])
		q.buf, q.head = q.buf[:n], 0
	}
	q.buf = append(q.buf, x)
}

func (q *queue[T]) popFront() { q.head++ }
func (q *queue[T]) popBack()  { q.buf = q.buf[:len(q.buf)-1] }

func (q *queue[T]) reset() { q.buf, q.head = q.buf[:0], 0 }
