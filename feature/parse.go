package feature

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// specParser walks the YAML syntax tree of a spec, keeping the position of
// every node, and collects every problem it finds instead of stopping at the
// first.
type specParser struct {
	file string
	errs []*SpecError
}

// pos is a 1-based line and column in the YAML source.
type pos struct{ line, col int }

// def is a feature or label as written, with the positions needed to report
// problems that only show once the whole definition has been read.
type def struct {
	name   string
	events []string
	field  string
	agg    Agg
	dur    time.Duration
	at     pos // the definition itself
	nameAt pos
}

// defKind tells a feature from a label while parsing.
type defKind struct {
	noun   string       // "feature" or "label"
	durKey string       // "window" or "horizon"
	aggs   map[Agg]bool // aggregations allowed
}

var featureKind = defKind{
	noun:   "feature",
	durKey: "window",
	aggs: map[Agg]bool{AggCount: true, AggSum: true, AggMean: true, AggMin: true,
		AggMax: true, AggFirst: true, AggLast: true, AggCountDistinct: true},
}

var labelKind = defKind{
	noun:   "label",
	durKey: "horizon",
	aggs:   map[Agg]bool{AggCount: true, AggSum: true, AggMax: true, AggLast: true},
}

func (p *specParser) errorf(at pos, format string, args ...any) {
	p.errs = append(p.errs, &SpecError{
		File: p.file, Line: at.line, Col: at.col, Msg: fmt.Sprintf(format, args...),
	})
}

// err returns nil, the one problem found, or all of them joined in file
// order.
func (p *specParser) err() error {
	slices.SortStableFunc(p.errs, func(a, b *SpecError) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
	switch len(p.errs) {
	case 0:
		return nil
	case 1:
		return p.errs[0]
	}
	errs := make([]error, len(p.errs))
	for i, e := range p.errs {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// posOf returns where a node starts. A block mapping's own token is the
// colon after its first key, so a mapping is placed at its first key.
func posOf(n ast.Node) pos {
	switch x := n.(type) {
	case nil:
		return pos{1, 1}
	case *ast.MappingNode:
		if len(x.Values) > 0 {
			return posOf(x.Values[0].Key)
		}
	case *ast.MappingValueNode:
		return posOf(x.Key)
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return pos{1, 1}
	}
	return pos{tk.Position.Line, tk.Position.Column}
}

// describe names the shape of a node for messages.
func describe(n ast.Node) string {
	switch n.(type) {
	case nil, *ast.NullNode:
		return "nothing"
	case *ast.MappingNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.StringNode:
		return "a string"
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "a number"
	case *ast.BoolNode:
		return "a bool"
	case *ast.AnchorNode, *ast.AliasNode:
		return "an anchor or alias (not supported in a spec)"
	case *ast.TagNode:
		return "a tagged value (not supported in a spec)"
	}
	return "a " + strings.ToLower(n.Type().String())
}

// parse reads the whole document. It returns nil when the YAML itself
// cannot be read; otherwise a Spec holding what could be understood.
func (p *specParser) parse(data []byte) *Spec {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		p.yamlError(err)
		return nil
	}
	var body ast.Node
	for _, d := range f.Docs {
		switch {
		case d == nil || d.Body == nil:
		case body != nil:
			p.errorf(posOf(d.Body), "a spec is one YAML document; another starts here")
		default:
			body = d.Body
		}
	}
	if body == nil {
		p.errorf(pos{1, 1}, "no features: the spec is empty")
		return nil
	}
	top, ok := body.(*ast.MappingNode)
	if !ok {
		p.errorf(posOf(body), "the top level must be a mapping with a features: list, "+
			"found %s", describe(body))
		return nil
	}
	return p.top(top)
}

// yamlError reports a YAML syntax error at the position the YAML parser gave.
func (p *specParser) yamlError(err error) {
	var ye yaml.Error
	if errors.As(err, &ye) && ye.GetToken() != nil && ye.GetToken().Position != nil {
		at := ye.GetToken().Position
		p.errorf(pos{at.Line, at.Column}, "invalid YAML: %s", ye.GetMessage())
		return
	}
	p.errorf(pos{1, 1}, "invalid YAML: %v", err)
}

// top reads the top-level mapping: features and labels.
func (p *specParser) top(m *ast.MappingNode) *Spec {
	s := &Spec{}
	var feats, labels []def
	found := false
	for _, mv := range m.Values {
		key, ok := p.key(mv)
		if !ok {
			continue
		}
		switch key {
		case "features":
			found = true
			feats = p.defs(mv.Value, featureKind)
		case "labels":
			labels = p.defs(mv.Value, labelKind)
		default:
			p.errorf(posOf(mv.Key), "unknown key %q: a spec has features: and labels:", key)
		}
	}
	if !found {
		p.errorf(posOf(m), "no features: the spec needs a features: list")
	}
	p.checkNames(feats, labels)
	for _, d := range feats {
		s.Features = append(s.Features, Feature{
			Name: d.name, Events: d.events, Field: d.field, Agg: d.agg, Window: d.dur,
		})
	}
	for _, d := range labels {
		s.Labels = append(s.Labels, Label{
			Name: d.name, Events: d.events, Field: d.field, Agg: d.agg, Horizon: d.dur,
		})
	}
	return s
}

// key returns a mapping key as a string, reporting keys of other shapes.
func (p *specParser) key(mv *ast.MappingValueNode) (string, bool) {
	if k, ok := mv.Key.(*ast.StringNode); ok {
		return k.Value, true
	}
	p.errorf(posOf(mv.Key), "keys must be plain strings, found %s", describe(mv.Key))
	return "", false
}

// defs reads the list under features: or labels:.
func (p *specParser) defs(n ast.Node, kind defKind) []def {
	seq, ok := n.(*ast.SequenceNode)
	empty := isNull(n) || ok && len(seq.Values) == 0
	switch {
	case empty && kind.noun == "feature":
		p.errorf(posOf(n), "no features: the features: list is empty")
		return nil
	case empty:
		return nil
	case !ok:
		p.errorf(posOf(n), "%ss: want a list of %ss, found %s", kind.noun, kind.noun, describe(n))
		return nil
	}
	var out []def
	for _, item := range seq.Values {
		if d, ok := p.def(item, kind); ok {
			out = append(out, d)
		}
	}
	return out
}

func isNull(n ast.Node) bool {
	_, null := n.(*ast.NullNode)
	return n == nil || null
}

// checkNames reports empty and duplicate names. Features and labels share
// one namespace, since both become columns of a training set.
func (p *specParser) checkNames(feats, labels []def) {
	first := make(map[string]pos)
	for _, d := range slices.Concat(feats, labels) {
		if d.name == "" {
			continue // reported where it was read
		}
		if at, dup := first[d.name]; dup {
			p.errorf(d.nameAt, "duplicate name %q (first defined at %d:%d)",
				d.name, at.line, at.col)
			continue
		}
		first[d.name] = d.nameAt
	}
}
