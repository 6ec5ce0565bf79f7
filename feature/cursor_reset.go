package feature

// Reset points the cursor at s, before its first event, and keeps the
// cursor's memory: its windows when s folds for the same spec, and in any
// case the block its vectors' values are cut from. A caller that computes
// one vector after another for different States, such as a scoring
// service answering requests for many entities, then allocates per vector
// only its share of a block. Vectors returned before keep their values. A
// zero Cursor may be Reset, and is then a cursor of s.
func (c *Cursor) Reset(s *State) {
	if c.s == nil || c.s.spec != s.spec {
		fresh := s.Cursor()
		fresh.vals, fresh.skips = c.vals, c.skips
		*c = *fresh
		return
	}
	c.s = s
	c.restart()
}
