package queue

import (
	"context"

	"github.com/outbox-mta/outbox/store"
)

// Priority lanes.
//
// Each lane (store.Priority: high, normal, bulk) has its own due index in
// the store, so a fill asks each lane for its due messages and a backlog
// of thousands of due bulk messages never stands in front of a high one.
// When there are fewer free workers than due messages, the free slots are
// shared by stride scheduling: each lane has a weight (laneWeights) and a
// pass that grows by 1/weight of a step each time the lane is served; the
// lane with the lowest pass among those with due mail is served next, ties
// going to the higher lane. Over any busy stretch the lanes are therefore
// served in proportion to their weights, 8 : 3 : 1:
//
//	lanes with due mail      high    normal   bulk
//	all three                2/3     1/4      1/12
//	high and bulk            8/9     -        1/9
//	normal and bulk          -       3/4      1/4
//	high and normal          8/11    3/11     -
//
// so no lane starves, and a lane alone takes every slot (the shares only
// apply while capacity is short). A lane that was idle starts from the
// current pass, not from its old one: it cannot claim the turns it did not
// use, and it is served at the next free slot since its pass is then the
// lowest. A message's lane is fixed at submission; time in the queue does
// not promote it.

// laneWeights are the lanes' weights, in the order of store.Lanes.
var laneWeights = [len(store.Lanes)]uint64{8, 3, 1}

// laneStep is a multiple of every weight, so each stride is whole.
const laneStep = 24

// lanes is the dispatcher's stride state; only its goroutine touches it.
type lanes struct {
	pass  [len(store.Lanes)]uint64
	vtime uint64 // the pass of the lane served last
}

// pick chooses the lane to serve next among those with due mail (has), or
// -1 when none has, and charges it a stride.
func (l *lanes) pick(has [len(store.Lanes)]bool) int {
	best := -1
	for i := range has {
		if !has[i] {
			continue
		}
		l.pass[i] = max(l.pass[i], l.vtime)
		if best < 0 || l.pass[i] < l.pass[best] {
			best = i
		}
	}
	if best >= 0 {
		l.vtime = l.pass[best]
		l.pass[best] += laneStep / laneWeights[best]
	}
	return best
}

// dueByLane returns up to limit due message IDs not in flight, shared
// among the lanes as described above, in the order they are to start.
func (d *dispatcher) dueByLane(ctx context.Context, limit int) ([]string, error) {
	var cand [len(store.Lanes)][]string
	var has [len(store.Lanes)]bool
	for i, p := range store.Lanes {
		ids, err := d.q.store.DueLane(ctx, p, d.now, limit, d.skip)
		if err != nil {
			return nil, err
		}
		cand[i], has[i] = ids, len(ids) > 0
	}
	var out []string
	for len(out) < limit {
		i := d.lanes.pick(has)
		if i < 0 {
			break
		}
		out = append(out, cand[i][0])
		cand[i] = cand[i][1:]
		has[i] = len(cand[i]) > 0
	}
	return out, nil
}
