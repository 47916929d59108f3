package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"go.yaml.in/yaml/v3"
)

// outputFormat is how a client command prints its result: a table for a
// person, JSON or YAML for scripts. The JSON and YAML forms carry the same
// fields, spelled the same (YAML is made from the JSON encoding, so a field
// is named once, in its json tag).
type outputFormat string

// The formats -o accepts.
const (
	outputTable outputFormat = "table"
	outputJSON  outputFormat = "json"
	outputYAML  outputFormat = "yaml"
)

// outputFormats lists the formats in the order help and completion show.
var outputFormats = []string{string(outputTable), string(outputJSON), string(outputYAML)}

// parseOutputFormat reads a -o value.
func parseOutputFormat(s string) (outputFormat, error) {
	switch f := outputFormat(strings.ToLower(strings.TrimSpace(s))); f {
	case outputTable, outputJSON, outputYAML:
		return f, nil
	}
	return "", fmt.Errorf("output %q: want table, json or yaml", s)
}

// render prints value in the chosen format: JSON (indented) and YAML encode
// value itself, the table form is drawn by table.
func render(w io.Writer, format outputFormat, value any, table func(*tableWriter)) error {
	switch format {
	case outputJSON:
		encoder := json.NewEncoder(w)
		encoder.SetIndent("", "  ")
		return encoder.Encode(value)
	case outputYAML:
		return writeYAML(w, value)
	}
	t := newTableWriter(w)
	table(t)
	return t.flush()
}

// writeYAML encodes value through its JSON form, so the YAML keys and their
// order are exactly the JSON ones: the JSON text is parsed as YAML (JSON is
// YAML) into a node tree, which is then re-styled as block YAML.
func writeYAML(w io.Writer, value any) error {
	encoded, err := json.Marshal(value)
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	var document yaml.Node
	if err := yaml.Unmarshal(encoded, &document); err != nil {
		return fmt.Errorf("encode output as yaml: %w", err)
	}
	blockStyle(&document)
	encoder := yaml.NewEncoder(w)
	encoder.SetIndent(2)
	if err := encoder.Encode(&document); err != nil {
		return fmt.Errorf("encode output as yaml: %w", err)
	}
	return encoder.Close()
}

// blockStyle clears the flow and quoting styles the JSON text gave every
// node; the encoder still quotes a string that would otherwise read as
// another type ("123", "true").
func blockStyle(node *yaml.Node) {
	node.Style = 0
	for _, child := range node.Content {
		blockStyle(child)
	}
}

// tableWriter draws aligned columns: rows are tab-separated cells padded to
// the widest cell of their column, and a row of plain text (a heading, a
// blank line) may sit between tables. It buffers until flush.
type tableWriter struct {
	out  io.Writer
	tabs *tabwriter.Writer
	err  error
}

func newTableWriter(w io.Writer) *tableWriter {
	return &tableWriter{out: w, tabs: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
}

// row writes one table row; each cell is printed with %v.
func (t *tableWriter) row(cells ...any) {
	if t.err != nil {
		return
	}
	var line bytes.Buffer
	for i, cell := range cells {
		if i > 0 {
			line.WriteByte('\t')
		}
		fmt.Fprint(&line, cell)
	}
	line.WriteByte('\n')
	_, t.err = t.tabs.Write(line.Bytes())
}

// line ends the current table (aligning what came before) and writes text
// on a line of its own.
func (t *tableWriter) line(format string, args ...any) {
	if t.err != nil {
		return
	}
	if t.err = t.tabs.Flush(); t.err != nil {
		return
	}
	_, t.err = fmt.Fprintf(t.out, format+"\n", args...)
}

// flush writes what is buffered and returns the first write error.
func (t *tableWriter) flush() error {
	if t.err != nil {
		return t.err
	}
	return t.tabs.Flush()
}

// joinInt32s formats a replica list the way Kafka's tools do: "1,2,3".
func joinInt32s(ids []int32) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprint(id)
	}
	return strings.Join(parts, ",")
}

// orDash shows an absent value in a table as "-".
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// isTerminal tells whether w is a terminal (a character device), so that
// progress can be drawn in place there and printed as plain lines anywhere
// else.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
