package feature

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// def reads one feature or label. ok is false when the item is not a
// mapping at all; other problems are reported and the item is kept so that
// later checks (duplicate names) still see it.
func (p *specParser) def(n ast.Node, kind defKind) (def, bool) {
	m, ok := n.(*ast.MappingNode)
	if !ok {
		p.errorf(posOf(n), "each %s must be a mapping with name, event and agg, found %s",
			kind.noun, describe(n))
		return def{}, false
	}
	d := def{at: posOf(m)}
	var hasName, hasEvent, hasField, hasAgg, hasDur bool
	var aggAt pos
	for _, mv := range m.Values {
		key, ok := p.key(mv)
		if !ok {
			continue
		}
		switch key {
		case "name":
			hasName, d.nameAt = true, posOf(mv.Value)
			d.name = p.name(mv.Value)
		case "event":
			hasEvent = true
			d.events = p.events(mv.Value)
		case "field":
			hasField = true
			d.field = p.field(mv.Value)
		case "agg":
			hasAgg, aggAt = true, posOf(mv.Value)
			d.agg = p.agg(mv.Value, kind)
		case kind.durKey:
			hasDur = true
			d.dur = p.duration(mv.Value, kind.durKey)
		default:
			p.errorf(posOf(mv.Key), "unknown key %q: a %s has name, event, field, agg and %s",
				key, kind.noun, kind.durKey)
		}
	}
	switch {
	case !hasName:
		p.errorf(d.at, "%s has no name", kind.noun)
	case !hasEvent:
		p.errorf(d.at, "%s %q has no event", kind.noun, d.name)
	case !hasAgg:
		p.errorf(d.at, "%s %q has no agg", kind.noun, d.name)
	case kind.noun == "label" && !hasDur:
		p.errorf(d.at, "label %q has no horizon", d.name)
	}
	if hasAgg && d.agg != AggCount && d.agg != 0 && !hasField {
		p.errorf(aggAt, "agg %s needs a field", d.agg)
	}
	return d, true
}

// str returns a string scalar, reporting any other shape.
func (p *specParser) str(n ast.Node, what string) (string, bool) {
	if s, ok := n.(*ast.StringNode); ok {
		return s.Value, true
	}
	p.errorf(posOf(n), "%s: want a string, found %s", what, describe(n))
	return "", false
}

// name reads a feature or label name: letters, digits, '_', '-' and '.'.
func (p *specParser) name(n ast.Node) string {
	s, ok := p.str(n, "name")
	switch {
	case !ok:
	case s == "":
		p.errorf(posOf(n), "empty name")
	case strings.IndexFunc(s, badNameRune) >= 0:
		p.errorf(posOf(n), "name %q: use only letters, digits, '_', '-' and '.'", s)
	}
	return s
}

func badNameRune(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		r == '_' || r == '-' || r == '.')
}

// events reads "event: type" or "event: [type, ...]".
func (p *specParser) events(n ast.Node) []string {
	if seq, ok := n.(*ast.SequenceNode); ok {
		if len(seq.Values) == 0 {
			p.errorf(posOf(n), "event: the list is empty")
			return nil
		}
		var out []string
		for _, item := range seq.Values {
			if t, ok := p.eventType(item); ok {
				if contains(out, t) {
					p.errorf(posOf(item), "event: %q is listed twice", t)
					continue
				}
				out = append(out, t)
			}
		}
		return out
	}
	if _, ok := n.(*ast.StringNode); !ok {
		p.errorf(posOf(n), "event: want an event type or a list of them, found %s",
			describe(n))
		return nil
	}
	if t, ok := p.eventType(n); ok {
		return []string{t}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// eventType reads one event type. Types name NATS subjects (events.<type>),
// so they may not be empty or hold spaces or the wildcards '*' and '>'.
func (p *specParser) eventType(n ast.Node) (string, bool) {
	s, ok := p.str(n, "event")
	switch {
	case !ok:
		return "", false
	case s == "":
		p.errorf(posOf(n), "event: empty event type")
		return "", false
	case strings.ContainsAny(s, " \t\r\n*>"):
		p.errorf(posOf(n), "event %q: no spaces, '*' or '>' in an event type", s)
		return "", false
	}
	return s, true
}

func (p *specParser) field(n ast.Node) string {
	s, ok := p.str(n, "field")
	if ok && s == "" {
		p.errorf(posOf(n), "field: empty field name")
	}
	return s
}

func (p *specParser) agg(n ast.Node, kind defKind) Agg {
	s, ok := p.str(n, "agg")
	if !ok {
		return 0
	}
	a, known := aggByName(s)
	switch {
	case !known:
		p.errorf(posOf(n), "unknown agg %q: want one of %s", s, aggList(kind))
		return 0
	case !kind.aggs[a]:
		p.errorf(posOf(n), "agg %q is not allowed in a %s: want one of %s",
			s, kind.noun, aggList(kind))
		return 0
	}
	return a
}

func aggList(kind defKind) string {
	var names []string
	for a, n := range aggNames {
		if kind.aggs[Agg(a)] {
			names = append(names, n)
		}
	}
	return strings.Join(names, ", ")
}

func (p *specParser) duration(n ast.Node, what string) time.Duration {
	s, ok := n.(*ast.StringNode)
	if !ok {
		p.errorf(posOf(n), "%s: want a duration such as \"90s\", \"1h\" or \"7d\", found %s",
			what, describe(n))
		return 0
	}
	d, err := parseDuration(s.Value)
	if err != "" {
		p.errorf(posOf(n), "%s %q: %s", what, s.Value, err)
		return 0
	}
	return d
}

// parseDuration reads a Go duration with an optional leading whole number of
// days: "90s", "1h30m", "7d", "1d12h". It returns a reason when it cannot.
func parseDuration(s string) (time.Duration, string) {
	const bad = "want a duration such as \"90s\", \"1h\" or \"7d\""
	const day = 24 * time.Hour
	var days int64
	rest := s
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.ParseUint(s[:i], 10, 63)
		if err != nil || i == 0 || s[0] == '+' {
			return 0, bad
		}
		if n > math.MaxInt64/uint64(day) {
			return 0, "too long"
		}
		days, rest = int64(n), s[i+1:]
		if rest != "" && (rest[0] == '-' || rest[0] == '+') {
			return 0, bad
		}
	}
	var d time.Duration
	if rest != "" {
		var err error
		if d, err = time.ParseDuration(rest); err != nil {
			return 0, bad
		}
	}
	total := time.Duration(days) * day
	if d > math.MaxInt64-total {
		return 0, "too long"
	}
	total += d
	if total <= 0 {
		return 0, "must be greater than zero"
	}
	return total, ""
}
