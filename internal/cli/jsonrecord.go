package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

// jsonRecord is one record as `sluice consume -o json` prints it (one
// object per line) and `sluice produce --input json` reads it. Keys,
// values and header values that are valid UTF-8 are JSON strings; other
// bytes go in the *_base64 field instead, so any record round-trips.
type jsonRecord struct {
	Topic       string       `json:"topic,omitempty"`
	Partition   *int32       `json:"partition,omitempty"`
	Offset      *int64       `json:"offset,omitempty"`
	Timestamp   *int64       `json:"timestamp,omitempty"`
	Key         *string      `json:"key"`
	KeyBase64   *string      `json:"key_base64,omitempty"`
	Value       *string      `json:"value"`
	ValueBase64 *string      `json:"value_base64,omitempty"`
	Headers     []jsonHeader `json:"headers,omitempty"`
}

// jsonHeader is one record header.
type jsonHeader struct {
	Key         string  `json:"key"`
	Value       *string `json:"value"`
	ValueBase64 *string `json:"value_base64,omitempty"`
}

// encodeJSONRecord describes a consumed record.
func encodeJSONRecord(r *kgo.Record) jsonRecord {
	partition, offset, millis := r.Partition, r.Offset, r.Timestamp.UnixMilli()
	out := jsonRecord{Topic: r.Topic, Partition: &partition, Offset: &offset, Timestamp: &millis}
	out.Key, out.KeyBase64 = textOrBase64(r.Key)
	out.Value, out.ValueBase64 = textOrBase64(r.Value)
	for _, h := range r.Headers {
		header := jsonHeader{Key: h.Key}
		header.Value, header.ValueBase64 = textOrBase64(h.Value)
		out.Headers = append(out.Headers, header)
	}
	return out
}

// textOrBase64 spells bytes as a JSON string when they are UTF-8 text, or
// as base64; nil stays null.
func textOrBase64(b []byte) (*string, *string) {
	if b == nil {
		return nil, nil
	}
	s := string(b)
	if utf8.ValidString(s) {
		return &s, nil
	}
	encoded := base64.StdEncoding.EncodeToString(b)
	return nil, &encoded
}

// jsonInput is the shape produce reads. It is jsonRecord's, except that
// key and value may be any JSON value: a string is used as it is, anything
// else as its compact JSON text, null as a null key or value (a tombstone).
// Headers may also be an object of string values.
type jsonInput struct {
	Topic       string          `json:"topic"`
	Partition   *int32          `json:"partition"`
	Offset      *int64          `json:"offset"`
	Timestamp   *int64          `json:"timestamp"`
	Key         json.RawMessage `json:"key"`
	KeyBase64   *string         `json:"key_base64"`
	Value       json.RawMessage `json:"value"`
	ValueBase64 *string         `json:"value_base64"`
	Headers     json.RawMessage `json:"headers"`
}

// decodeJSONLine reads one JSON input line. Unknown fields are refused, so
// a misspelt "vaule" is not silently produced as a null value; topic and
// offset are accepted (consume prints them) and ignored.
func decodeJSONLine(line []byte) (parsedLine, error) {
	decoder := json.NewDecoder(bytes.NewReader(line))
	decoder.DisallowUnknownFields()
	var in jsonInput
	if err := decoder.Decode(&in); err != nil {
		return parsedLine{}, fmt.Errorf("invalid JSON record: %w", err)
	}
	if decoder.More() {
		return parsedLine{}, errors.New("invalid JSON record: more than one value on the line")
	}
	var out parsedLine
	var err error
	if out.key, err = jsonBytes("key", in.Key, in.KeyBase64); err != nil {
		return parsedLine{}, err
	}
	out.hasKey = out.key != nil
	if out.value, err = jsonBytes("value", in.Value, in.ValueBase64); err != nil {
		return parsedLine{}, err
	}
	if in.Partition != nil {
		if *in.Partition < 0 {
			return parsedLine{}, fmt.Errorf("partition %d: want 0 or more", *in.Partition)
		}
		out.partition, out.hasPartition = *in.Partition, true
	}
	if in.Timestamp != nil {
		out.timestamp = time.UnixMilli(*in.Timestamp)
	}
	if out.headers, err = jsonHeaders(in.Headers); err != nil {
		return parsedLine{}, err
	}
	return out, nil
}

// jsonBytes reads a key or value field: text, JSON or base64.
func jsonBytes(field string, raw json.RawMessage, encoded *string) ([]byte, error) {
	if encoded != nil {
		if len(raw) > 0 && string(raw) != "null" {
			return nil, fmt.Errorf("give %s or %s_base64, not both", field, field)
		}
		decoded, err := base64.StdEncoding.DecodeString(*encoded)
		if err != nil {
			return nil, fmt.Errorf("%s_base64: %w", field, err)
		}
		return decoded, nil
	}
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		return []byte(s), nil
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	return compact.Bytes(), nil
}

// jsonHeaders reads headers as a list of {key, value} or an object.
func jsonHeaders(raw json.RawMessage) ([]kgo.RecordHeader, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '{' {
		var object map[string]string
		if err := json.Unmarshal(raw, &object); err != nil {
			return nil, fmt.Errorf("headers: want an object of strings or a list of {key, value}: %w", err)
		}
		headers := make([]kgo.RecordHeader, 0, len(object))
		for _, k := range slices.Sorted(maps.Keys(object)) {
			headers = append(headers, kgo.RecordHeader{Key: k, Value: []byte(object[k])})
		}
		return headers, nil
	}
	var list []jsonHeader
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("headers: want an object of strings or a list of {key, value}: %w", err)
	}
	headers := make([]kgo.RecordHeader, 0, len(list))
	for _, h := range list {
		value, err := jsonHeaderValue(h)
		if err != nil {
			return nil, err
		}
		headers = append(headers, kgo.RecordHeader{Key: h.Key, Value: value})
	}
	return headers, nil
}

func jsonHeaderValue(h jsonHeader) ([]byte, error) {
	if h.ValueBase64 != nil {
		decoded, err := base64.StdEncoding.DecodeString(*h.ValueBase64)
		if err != nil {
			return nil, fmt.Errorf("header %q value_base64: %w", h.Key, err)
		}
		return decoded, nil
	}
	if h.Value == nil {
		return nil, nil
	}
	return []byte(*h.Value), nil
}
