package pg

// test_decoding's text: the outbox inserts a slot decodes, and log positions.

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/deliveryharness/harness/strategies"
)

// outboxInsertPrefix is how test_decoding starts the line of an insert into schema's outbox.
func outboxInsertPrefix(schema string) string {
	return "table " + quoteIdent(schema) + "." + quoteIdent("outbox") + ": INSERT: "
}

var plainIdent = regexp.MustCompile(`^[a-z_][a-z0-9_$]*$`)

// quoteIdent quotes a name as PostgreSQL's quote_identifier does, for names that are not
// keywords (the harness's are not).
func quoteIdent(name string) string {
	if plainIdent.MatchString(name) {
		return name
	}
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// parseLSN parses a pg_lsn ("16/B374D848") as the 64-bit position it stands for.
func parseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if ok {
		h, err1 := strconv.ParseUint(hi, 16, 32)
		l, err2 := strconv.ParseUint(lo, 16, 32)
		if err1 == nil && err2 == nil {
			return h<<32 | l, nil
		}
	}
	return 0, fmt.Errorf("bad pg_lsn %q", s)
}

// formatLSN is parseLSN's inverse.
func formatLSN(pos uint64) string { return fmt.Sprintf("%X/%X", pos>>32, uint32(pos)) }

// decodedColumn is one column of a test_decoding tuple.
type decodedColumn struct {
	Name, Type, Value string
	Null              bool
}

// parseTuple parses test_decoding's text of a tuple: columns separated by one space, each
// name[type]:value, where the name is quoted as an identifier when it must be, the type is
// format_type's text (it may hold spaces and brackets), and the value is null, or a literal
// quoted with ' (a ' inside doubled; nothing else escaped: newlines are raw), or an unquoted
// literal without spaces (numbers, booleans, bit strings, unchanged-toast-datum).
func parseTuple(s string) ([]decodedColumn, error) {
	if s == "(no-tuple-data)" {
		return nil, errors.New("no tuple data")
	}
	var cols []decodedColumn
	for i := 0; i < len(s); {
		if len(cols) > 0 {
			if s[i] != ' ' {
				return nil, fmt.Errorf("column %d: want a space at byte %d of %q", len(cols)+1, i, s)
			}
			i++
		}
		var c decodedColumn
		// name
		if i < len(s) && s[i] == '"' {
			v, n, err := unquote(s[i:], '"')
			if err != nil {
				return nil, fmt.Errorf("column %d name: %w", len(cols)+1, err)
			}
			c.Name, i = v, i+n
		} else {
			j := strings.IndexByte(s[i:], '[')
			if j <= 0 {
				return nil, fmt.Errorf("column %d: no name[type] at byte %d of %q", len(cols)+1, i, s)
			}
			c.Name, i = s[i:i+j], i+j
		}
		if i >= len(s) || s[i] != '[' {
			return nil, fmt.Errorf("column %s: want [type] at byte %d of %q", c.Name, i, s)
		}
		j := strings.Index(s[i:], "]:")
		if j < 0 {
			return nil, fmt.Errorf("column %s: unterminated type in %q", c.Name, s)
		}
		c.Type, i = s[i+1:i+j], i+j+2
		// value
		switch {
		case i < len(s) && s[i] == '\'':
			v, n, err := unquote(s[i:], '\'')
			if err != nil {
				return nil, fmt.Errorf("column %s value: %w", c.Name, err)
			}
			c.Value, i = v, i+n
		default:
			j := strings.IndexByte(s[i:], ' ')
			if j < 0 {
				j = len(s) - i
			}
			c.Value, i = s[i:i+j], i+j
			if c.Value == "" {
				return nil, fmt.Errorf("column %s: empty value in %q", c.Name, s)
			}
			c.Null = c.Value == "null"
		}
		cols = append(cols, c)
	}
	if len(cols) == 0 {
		return nil, errors.New("no columns")
	}
	return cols, nil
}

// unquote reads a string that starts with quote q and ends at the first lone q (a doubled q
// stands for one). It returns the text and how many bytes it took.
func unquote(s string, q byte) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] != q {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == q {
			b.WriteByte(q)
			i++
			continue
		}
		return b.String(), i + 1, nil
	}
	return "", 0, fmt.Errorf("unterminated %c-quoted text in %q", q, s)
}

// parseOutboxInsert parses the tuple of an insert into the outbox table (see CreateSchema:
// id, msg_id, key, amount, version, kind, published) into the row a relay publishes.
func parseOutboxInsert(tuple string) (strategies.OutboxRow, error) {
	cols, err := parseTuple(tuple)
	if err != nil {
		return strategies.OutboxRow{}, err
	}
	byName := make(map[string]decodedColumn, len(cols))
	for _, c := range cols {
		byName[c.Name] = c
	}
	get := func(name string) (string, error) {
		c, ok := byName[name]
		switch {
		case !ok:
			return "", fmt.Errorf("no column %s in %q", name, tuple)
		case c.Null:
			return "", fmt.Errorf("column %s is null in %q", name, tuple)
		}
		return c.Value, nil
	}
	num := func(name string) (int64, error) {
		v, err := get(name)
		if err != nil {
			return 0, err
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("column %s: %w", name, err)
		}
		return n, nil
	}
	var r strategies.OutboxRow
	var errs []error
	var e error
	r.ID, e = num("id")
	errs = append(errs, e)
	r.Msg.ID, e = get("msg_id")
	errs = append(errs, e)
	r.Msg.Key, e = get("key")
	errs = append(errs, e)
	r.Msg.Amount, e = num("amount")
	errs = append(errs, e)
	r.Msg.Seq, e = num("version")
	errs = append(errs, e)
	r.Msg.Kind, e = get("kind")
	errs = append(errs, e)
	if err := errors.Join(errs...); err != nil {
		return strategies.OutboxRow{}, err
	}
	return r, nil
}
