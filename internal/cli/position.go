package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// positionKind says how a position is given.
type positionKind int

const (
	// positionBeginning is each partition's log start offset.
	positionBeginning positionKind = iota
	// positionEnd is each partition's end offset (high watermark): only
	// records produced from now on.
	positionEnd
	// positionOffset is an absolute offset, clamped to the partition.
	positionOffset
	// positionTime is the first offset whose timestamp is at or after a
	// time.
	positionTime
	// positionFromEnd is N records before the end of each partition.
	positionFromEnd
	// positionFromStart is N records after the start of each partition.
	positionFromStart
)

// position is where reading (consume --from) or a group (reset-offsets)
// starts in every partition.
type position struct {
	kind positionKind
	// value is the offset, the record count, or the time in Unix
	// milliseconds, depending on kind.
	value int64
}

// parsePosition reads a --from value:
//
//	beginning, earliest      the log start offset
//	end, latest              the end: new records only
//	1234                     offset 1234
//	-10, +10                 10 records before the end, after the start
//	-1h, -30m                records from that long ago
//	@1700000000000           records from that Unix time in milliseconds
//	2024-05-01T12:00:00Z     records from that time (RFC 3339, or a date)
func parsePosition(s string, now time.Time) (position, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "beginning", "earliest", "start":
		return position{kind: positionBeginning}, nil
	case "end", "latest":
		return position{kind: positionEnd}, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		switch {
		case strings.HasPrefix(s, "-"):
			return position{kind: positionFromEnd, value: -n}, nil
		case strings.HasPrefix(s, "+"):
			return position{kind: positionFromStart, value: n}, nil
		}
		return position{kind: positionOffset, value: n}, nil
	}
	if strings.HasPrefix(s, "-") {
		if d, err := time.ParseDuration(s[1:]); err == nil && d > 0 {
			return position{kind: positionTime, value: now.Add(-d).UnixMilli()}, nil
		}
	}
	if millis, err := parseTime(s); err == nil {
		return position{kind: positionTime, value: millis}, nil
	}
	return position{}, fmt.Errorf("position %q: want beginning, end, an offset, -N or +N records, -DURATION (-1h), @UNIX_MILLIS or a time (2024-05-01T12:00:00Z)", s)
}

// timeLayouts are the time forms accepted besides @millis, tried in
// order; the ones without a zone are local time, as in Kafka's tools.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.000",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05",
	"2006-01-02",
}

// parseTime reads "@<unix millis>" or a time in one of timeLayouts and
// returns Unix milliseconds.
func parseTime(s string) (int64, error) {
	if rest, ok := strings.CutPrefix(s, "@"); ok {
		millis, err := strconv.ParseInt(rest, 10, 64)
		if err != nil || millis < 0 {
			return 0, fmt.Errorf("time %q: want @ and Unix milliseconds", s)
		}
		return millis, nil
	}
	for _, layout := range timeLayouts {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t.UnixMilli(), nil
		}
	}
	return 0, fmt.Errorf("time %q: want RFC 3339 (2024-05-01T12:00:00Z), 2024-05-01T12:00:00[.000], 2024-05-01 or @UNIX_MILLIS", s)
}

// topicPartition names one partition.
type topicPartition struct {
	topic     string
	partition int32
}

func (tp topicPartition) String() string { return fmt.Sprintf("%s[%d]", tp.topic, tp.partition) }

// bounds are a partition's offsets that positions resolve against.
type bounds struct {
	start int64
	end   int64
	// atTime is the first offset at or after the position's time; -1
	// when the position is not a time.
	atTime int64
}

// resolve turns the position into an offset within b.
func (p position) resolve(b bounds) int64 {
	var offset int64
	switch p.kind {
	case positionBeginning:
		offset = b.start
	case positionEnd:
		offset = b.end
	case positionOffset:
		offset = p.value
	case positionTime:
		offset = b.atTime
		if offset < 0 {
			offset = b.end
		}
	case positionFromEnd:
		offset = b.end - p.value
	case positionFromStart:
		offset = b.start + p.value
	}
	return clampOffset(offset, b)
}

// clampOffset keeps an offset within [start, end], as Kafka's tools do
// with an out-of-range reset target.
func clampOffset(offset int64, b bounds) int64 {
	return max(b.start, min(offset, b.end))
}

// listBounds reads the start and end offsets of topics' partitions and,
// for a time position, the offsets at that time.
func listBounds(ctx context.Context, conn connection, admin *kadm.Client, p position, topics ...string) (map[topicPartition]bounds, error) {
	starts, err := admin.ListStartOffsets(ctx, topics...)
	if err = listedError(err, starts); err != nil {
		return nil, conn.requestFailed("list start offsets", err)
	}
	ends, err := admin.ListEndOffsets(ctx, topics...)
	if err = listedError(err, ends); err != nil {
		return nil, conn.requestFailed("list end offsets", err)
	}
	var atTime kadm.ListedOffsets
	if p.kind == positionTime {
		atTime, err = admin.ListOffsetsAfterMilli(ctx, p.value, topics...)
		if err = listedError(err, atTime); err != nil {
			return nil, conn.requestFailed("list offsets by time", err)
		}
	}
	out := make(map[topicPartition]bounds)
	starts.Each(func(o kadm.ListedOffset) {
		b := bounds{start: o.Offset, end: o.Offset, atTime: -1}
		if end, ok := ends.Lookup(o.Topic, o.Partition); ok {
			b.end = end.Offset
		}
		if at, ok := atTime.Lookup(o.Topic, o.Partition); ok {
			b.atTime = at.Offset
		}
		out[topicPartition{o.Topic, o.Partition}] = b
	})
	return out, nil
}

// listedError returns the request error or the first partition error,
// with the topic named for a missing topic.
func listedError(err error, listed kadm.ListedOffsets) error {
	if err != nil {
		return err
	}
	var first error
	listed.Each(func(o kadm.ListedOffset) {
		if o.Err != nil && first == nil {
			first = topicError(o.Topic, o.Err)
		}
	})
	return first
}
