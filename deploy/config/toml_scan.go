package config

import (
	"sort"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// tomlKey is a key of an environment table and the line it is on.
type tomlKey struct {
	name string
	line int
}

// tomlTable is an environment table: its name, first line and keys, in the
// order the file gives them.
type tomlTable struct {
	name string
	line int
	keys []tomlKey
}

// tomlScanner walks the TOML syntax tree to learn what the decoder does not
// tell: which environments and keys appear, in which order, on which lines.
type tomlScanner struct {
	file   string
	p      *unstable.Parser
	tables []*tomlTable
	byName map[string]*tomlTable
	starts []int // offsets at which lines start, for lineOf
}

// scanTOML returns the environment tables of data with their keys' lines;
// data has already been parsed without error once.
func scanTOML(file string, data []byte) ([]*tomlTable, error) {
	s := &tomlScanner{file: file, p: &unstable.Parser{}, byName: map[string]*tomlTable{}, starts: []int{0}}
	for i, c := range data {
		if c == '\n' {
			s.starts = append(s.starts, i+1)
		}
	}
	s.p.Reset(data)
	var table []string
	for s.p.NextExpression() {
		expr := s.p.Expression()
		switch expr.Kind {
		case unstable.Table, unstable.ArrayTable:
			path, line := s.keyPath(expr.Key())
			if expr.Kind == unstable.ArrayTable {
				return nil, configErrf(file, line, strings.Join(path, "."), "[[%s]] is an array of tables; write [%s]", strings.Join(path, "."), path[0])
			}
			table = path
			s.note(path, line)
		case unstable.KeyValue:
			path, line := s.keyPath(expr.Key())
			full := append(append([]string{}, table...), path...)
			if err := s.keyValue(full, line, expr.Value()); err != nil {
				return nil, err
			}
		}
	}
	if err := s.p.Error(); err != nil {
		return nil, configErrf(file, 0, "", "%v", err)
	}
	return s.tables, nil
}

// keyValue records the key at path; an inline table at the top level is an
// environment whose keys are recorded one by one.
func (s *tomlScanner) keyValue(path []string, line int, value *unstable.Node) error {
	if len(path) == 1 {
		if value.Kind != unstable.InlineTable {
			return configErrf(s.file, line, path[0], "is outside any environment; put it under a table like [production]")
		}
		s.note(path, line)
		it := value.Children()
		for it.Next() {
			kv := it.Node()
			sub, subLine := s.keyPath(kv.Key())
			if err := s.keyValue(append(append([]string{}, path...), sub...), subLine, kv.Value()); err != nil {
				return err
			}
		}
		return nil
	}
	s.note(path, line)
	return nil
}

// note records the environment path[0] and, when there is one, its key
// path[1], each at the first line it appears on.
func (s *tomlScanner) note(path []string, line int) {
	if len(path) == 0 {
		return
	}
	t := s.byName[path[0]]
	if t == nil {
		t = &tomlTable{name: path[0], line: line}
		s.tables = append(s.tables, t)
		s.byName[path[0]] = t
	}
	if len(path) < 2 {
		return
	}
	for _, k := range t.keys {
		if k.name == path[1] {
			return
		}
	}
	t.keys = append(t.keys, tomlKey{name: path[1], line: line})
}

// keyPath returns a (dotted) key's parts and the line it starts on.
func (s *tomlScanner) keyPath(it unstable.Iterator) ([]string, int) {
	var parts []string
	line := 0
	for it.Next() {
		n := it.Node()
		if line == 0 {
			line = s.lineOf(int(n.Raw.Offset))
		}
		parts = append(parts, string(n.Data))
	}
	return parts, line
}

// lineOf returns the 1-based line of a byte offset.
func (s *tomlScanner) lineOf(offset int) int {
	return sort.Search(len(s.starts), func(i int) bool { return s.starts[i] > offset })
}
