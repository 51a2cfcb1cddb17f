package connectors

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"

	"github.com/onevisit/onevisit/schemas"
)

// ReadCSV reads a CSV file whose header row names the fields of schemaID
// and returns one item per row, typed by the schema. A row that does not
// fit the schema is an error naming its line; nothing is returned then,
// so a half-read file is never published.
func ReadCSV(r io.Reader, reg *schemas.Registry, schemaID string) ([]Item, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 0
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read csv: header: %w", err)
	}
	var items []Item
	for line := 2; ; line++ {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read csv: %w", err)
		}
		cells := make(map[string]string, len(header))
		for i, h := range header {
			cells[h] = row[i]
		}
		fields, err := reg.Coerce(schemaID, cells)
		if err != nil {
			return nil, fmt.Errorf("read csv: line %d: %w", line, err)
		}
		if err := reg.Validate(schemaID, fields); err != nil {
			return nil, fmt.Errorf("read csv: line %d: %w", line, err)
		}
		items = append(items, Item{Fields: fields})
	}
	return items, nil
}
