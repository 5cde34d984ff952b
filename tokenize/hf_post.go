package tokenize

import (
	"encoding/json"
	"fmt"
)

// postProcessor adds special tokens around a single text's ids.
type postProcessor interface {
	// added is the number of ids process adds.
	added() int
	// process appends the final ids to dst.
	process(dst, ids []int32) []int32
}

func parsePostProcessor(raw json.RawMessage, where string) (postProcessor, error) {
	if isNull(raw) {
		return nil, nil
	}
	typ, err := typeOf(raw, where)
	if err != nil {
		return nil, err
	}
	where = fmt.Sprintf("%s (%s)", where, typ)
	switch typ {
	case "ByteLevel": // changes offsets only
		return nil, nil
	case "Sequence":
		var s struct {
			Processors []json.RawMessage `json:"processors"`
		}
		if err := decode(raw, where, &s); err != nil {
			return nil, err
		}
		var seq seqPost
		for i, sub := range s.Processors {
			p, err := parsePostProcessor(sub, fmt.Sprintf("%s.processors[%d]", where, i))
			if err != nil {
				return nil, err
			}
			if p != nil {
				seq = append(seq, p)
			}
		}
		if len(seq) == 0 {
			return nil, nil
		}
		return seq, nil
	case "BertProcessing", "RobertaProcessing":
		var b struct {
			Sep [2]json.RawMessage `json:"sep"`
			Cls [2]json.RawMessage `json:"cls"`
		}
		if err := decode(raw, where, &b); err != nil {
			return nil, err
		}
		var sep, cls int32
		if err := json.Unmarshal(b.Sep[1], &sep); err != nil || sep < 0 {
			return nil, fmt.Errorf("%s: field sep: want [token, id]", where)
		}
		if err := json.Unmarshal(b.Cls[1], &cls); err != nil || cls < 0 {
			return nil, fmt.Errorf("%s: field cls: want [token, id]", where)
		}
		return template{pre: []int32{cls}, post: []int32{sep}}, nil
	case "TemplateProcessing":
		var t struct {
			Single        []map[string]json.RawMessage `json:"single"`
			SpecialTokens map[string]struct {
				IDs []int32 `json:"ids"`
			} `json:"special_tokens"`
		}
		if err := decode(raw, where, &t); err != nil {
			return nil, err
		}
		var out template
		seen := false
		for i, piece := range t.Single {
			if len(piece) != 1 {
				return nil, fmt.Errorf("%s: single[%d]: want one of SpecialToken and Sequence", where, i)
			}
			for kind, body := range piece {
				var p struct {
					ID string `json:"id"`
				}
				if err := json.Unmarshal(body, &p); err != nil {
					return nil, fmt.Errorf("%s: single[%d].%s: %w", where, i, kind, jsonError(err))
				}
				switch kind {
				case "Sequence":
					if p.ID != "A" || seen {
						return nil, fmt.Errorf("%s: single[%d]: a single text's template must hold the sequence A once", where, i)
					}
					seen = true
				case "SpecialToken":
					st, ok := t.SpecialTokens[p.ID]
					if !ok {
						return nil, fmt.Errorf("%s: single[%d]: special token %q is not in special_tokens", where, i, p.ID)
					}
					for _, id := range st.IDs {
						if id < 0 {
							return nil, fmt.Errorf("%s: special_tokens[%q]: negative id", where, p.ID)
						}
					}
					if seen {
						out.post = append(out.post, st.IDs...)
					} else {
						out.pre = append(out.pre, st.IDs...)
					}
				default:
					return nil, fmt.Errorf("%s: single[%d]: %q is not SpecialToken or Sequence", where, i, kind)
				}
			}
		}
		if !seen {
			return nil, fmt.Errorf("%s: field single: no Sequence A", where)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: post-processor type %q is not supported", where, typ)
}

// template puts fixed ids before and after the text's (Template, Bert and
// Roberta processing of a single text).
type template struct{ pre, post []int32 }

func (t template) added() int { return len(t.pre) + len(t.post) }

func (t template) process(dst, ids []int32) []int32 {
	dst = append(dst, t.pre...)
	dst = append(dst, ids...)
	return append(dst, t.post...)
}

// seqPost applies post-processors in turn.
type seqPost []postProcessor

func (q seqPost) added() int {
	n := 0
	for _, p := range q {
		n += p.added()
	}
	return n
}

func (q seqPost) process(dst, ids []int32) []int32 {
	cur := ids
	for _, p := range q {
		cur = p.process(nil, cur)
	}
	return append(dst, cur...)
}
