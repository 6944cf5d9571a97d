package promtext

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Parse reads the text format strictly, as a check of what Write (or
// any exporter) produced: every family has one HELP and one TYPE line
// before its samples, its samples are together, a counter's name ends in
// _total, label values are quoted with only \\, \" and \n escaped, and
// no two samples of a family have the same labels. Comment lines other
// than HELP and TYPE, blank lines, and timestamps after a value are
// allowed, as the format allows them. Errors name the line.
func Parse(r io.Reader) ([]Family, error) {
	p := parser{byName: map[string]int{}, helped: map[string]bool{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sc.Split(splitLF)
	for sc.Scan() {
		p.line++
		if err := p.parseLine(sc.Text()); err != nil {
			return nil, fmt.Errorf("line %d: %w: %q", p.line, err, sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, f := range p.fams {
		if !p.helped[f.Name] || f.Type == "" {
			return nil, fmt.Errorf("metric %q: no HELP or no TYPE line", f.Name)
		}
	}
	if err := check(p.fams, false); err != nil {
		return nil, err
	}
	return p.fams, nil
}

// splitLF splits at \n only: bufio.ScanLines would also drop a \r
// before it, which belongs to the line (a help text may end in one).
func splitLF(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

type parser struct {
	line   int
	fams   []Family
	byName map[string]int
	helped map[string]bool // families with their HELP line read
	cur    string          // the family whose samples are being read
}

func (p *parser) parseLine(s string) error {
	switch {
	case strings.TrimSpace(s) == "":
		return nil
	case strings.HasPrefix(s, "# HELP "):
		name, text, _ := strings.Cut(s[len("# HELP "):], " ")
		f, err := p.announce(name)
		if err != nil || p.helped[name] {
			return orErr(err, "a second HELP")
		}
		p.helped[name] = true
		f.Help, err = unescape(text, false)
		return err
	case strings.HasPrefix(s, "# TYPE "):
		name, typ, _ := strings.Cut(s[len("# TYPE "):], " ")
		f, err := p.announce(name)
		if err != nil || f.Type != "" {
			return orErr(err, "a second TYPE")
		}
		if len(f.Samples) > 0 {
			return fmt.Errorf("TYPE after samples")
		}
		f.Type = Type(typ)
		return nil
	case strings.HasPrefix(s, "#"):
		return nil
	}
	return p.sample(s)
}

func orErr(err error, msg string) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("%s", msg)
}

// announce finds or adds the family name; a family whose samples ended
// cannot come back.
func (p *parser) announce(name string) (*Family, error) {
	if !validName(name, true) {
		return nil, fmt.Errorf("bad metric name %q", name)
	}
	if i, ok := p.byName[name]; ok {
		if p.cur != "" && p.cur != name {
			return nil, fmt.Errorf("metric %q announced again after others", name)
		}
		return &p.fams[i], nil
	}
	p.byName[name] = len(p.fams)
	p.fams = append(p.fams, Family{Name: name})
	p.cur = name
	return &p.fams[len(p.fams)-1], nil
}

func (p *parser) sample(s string) error {
	end := strings.IndexAny(s, "{ ")
	if end < 0 {
		return fmt.Errorf("no value")
	}
	name := s[:end]
	i, ok := p.byName[name]
	if !ok || p.cur != name {
		return fmt.Errorf("sample of %q outside its family (no HELP/TYPE just before)", name)
	}
	var smp Sample
	rest := s[end:]
	if strings.HasPrefix(rest, "{") {
		var err error
		if smp.Labels, rest, err = parseLabels(rest[1:]); err != nil {
			return err
		}
	}
	if !strings.HasPrefix(rest, " ") {
		return fmt.Errorf("no space before the value")
	}
	fields := strings.Fields(rest)
	if len(fields) < 1 || len(fields) > 2 {
		return fmt.Errorf("want a value and at most a timestamp")
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return fmt.Errorf("value %q: %w", fields[0], err)
	}
	if len(fields) == 2 {
		if _, err := strconv.ParseInt(fields[1], 10, 64); err != nil {
			return fmt.Errorf("timestamp %q", fields[1])
		}
	}
	smp.Value = v
	p.fams[i].Samples = append(p.fams[i].Samples, smp)
	return nil
}

// parseLabels reads `name="value",…}` and returns what follows the brace.
func parseLabels(s string) ([]Label, string, error) {
	var ls []Label
	for {
		if strings.HasPrefix(s, "}") {
			return ls, s[1:], nil
		}
		eq := strings.IndexByte(s, '=')
		if eq < 0 || !validName(s[:eq], false) {
			return nil, "", fmt.Errorf("bad label name")
		}
		name := s[:eq]
		s = s[eq+1:]
		if !strings.HasPrefix(s, `"`) {
			return nil, "", fmt.Errorf("label %s: value not quoted", name)
		}
		end := closingQuote(s[1:])
		if end < 0 {
			return nil, "", fmt.Errorf("label %s: no closing quote", name)
		}
		v, err := unescape(s[1:1+end], true)
		if err != nil {
			return nil, "", fmt.Errorf("label %s: %w", name, err)
		}
		ls = append(ls, Label{name, v})
		s = s[2+end:]
		switch {
		case strings.HasPrefix(s, ","):
			s = s[1:]
		case !strings.HasPrefix(s, "}"):
			return nil, "", fmt.Errorf("label %s: want , or } after the value", name)
		}
	}
}

// closingQuote is the index of the first unescaped double quote in s.
func closingQuote(s string) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

// unescape undoes the format's escapes: \\ and \n, and \" in a label
// value; any other backslash is an error, and so is a raw newline or,
// in a label value, a raw double quote.
func unescape(s string, label bool) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' && label || c == '\n' {
			return "", fmt.Errorf("unescaped %q", c)
		}
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		if i+1 == len(s) {
			return "", fmt.Errorf("a lone backslash at the end")
		}
		i++
		switch {
		case s[i] == '\\':
			b.WriteByte('\\')
		case s[i] == 'n':
			b.WriteByte('\n')
		case s[i] == '"' && label:
			b.WriteByte('"')
		default:
			return "", fmt.Errorf("unknown escape \\%c", s[i])
		}
	}
	return b.String(), nil
}
