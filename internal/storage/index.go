package storage

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// Entry sizes of the two index files (see doc.go).
const (
	offsetEntrySize = 8
	timeEntrySize   = 12
)

// offsetEntry maps a batch's offset (relative to the segment base) to its
// byte position in the segment's .log.
type offsetEntry struct {
	relativeOffset uint32
	position       uint32
}

// timeEntry says every record before relativeOffset is older than
// timestamp, and the batch at relativeOffset reaches it.
type timeEntry struct {
	timestamp      int64
	relativeOffset uint32
}

func appendOffsetEntry(dst []byte, e offsetEntry) []byte {
	dst = binary.BigEndian.AppendUint32(dst, e.relativeOffset)
	return binary.BigEndian.AppendUint32(dst, e.position)
}

func appendTimeEntry(dst []byte, e timeEntry) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.timestamp))
	return binary.BigEndian.AppendUint32(dst, e.relativeOffset)
}

func decodeOffsetEntry(b []byte) offsetEntry {
	return offsetEntry{relativeOffset: binary.BigEndian.Uint32(b), position: binary.BigEndian.Uint32(b[4:])}
}

func decodeTimeEntry(b []byte) timeEntry {
	return timeEntry{timestamp: int64(binary.BigEndian.Uint64(b)), relativeOffset: binary.BigEndian.Uint32(b[8:])}
}

// decodeOffsetIndex parses and validates an .index file's bytes against the
// size of its .log: whole entries, both fields strictly increasing, every
// position inside the log.
func decodeOffsetIndex(b []byte, logSize int64) ([]offsetEntry, error) {
	if len(b)%offsetEntrySize != 0 {
		return nil, fmt.Errorf("offset index of %d bytes is not whole %d-byte entries", len(b), offsetEntrySize)
	}
	entries := make([]offsetEntry, 0, len(b)/offsetEntrySize)
	for i := 0; i < len(b); i += offsetEntrySize {
		e := decodeOffsetEntry(b[i:])
		if int64(e.position) >= logSize {
			return nil, fmt.Errorf("offset index entry %d points at byte %d of a %d-byte log", i/offsetEntrySize, e.position, logSize)
		}
		if n := len(entries); n > 0 && (e.relativeOffset <= entries[n-1].relativeOffset || e.position <= entries[n-1].position) {
			return nil, fmt.Errorf("offset index entry %d does not increase", i/offsetEntrySize)
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// decodeTimeIndex parses and validates a .timeindex file's bytes: whole
// entries, timestamps strictly increasing, offsets not decreasing and below
// nextRelative (the relative offset after the segment's last batch).
func decodeTimeIndex(b []byte, nextRelative int64) ([]timeEntry, error) {
	if len(b)%timeEntrySize != 0 {
		return nil, fmt.Errorf("time index of %d bytes is not whole %d-byte entries", len(b), timeEntrySize)
	}
	entries := make([]timeEntry, 0, len(b)/timeEntrySize)
	for i := 0; i < len(b); i += timeEntrySize {
		e := decodeTimeEntry(b[i:])
		if int64(e.relativeOffset) >= nextRelative {
			return nil, fmt.Errorf("time index entry %d names relative offset %d past the segment end %d", i/timeEntrySize, e.relativeOffset, nextRelative)
		}
		if n := len(entries); n > 0 && (e.timestamp <= entries[n-1].timestamp || e.relativeOffset < entries[n-1].relativeOffset) {
			return nil, fmt.Errorf("time index entry %d does not increase", i/timeEntrySize)
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// lookupPosition returns the position of the last indexed batch whose
// relative offset is at most relative: the place to start scanning for it.
func lookupPosition(entries []offsetEntry, relative int64) int64 {
	i := sort.Search(len(entries), func(i int) bool { return int64(entries[i].relativeOffset) > relative })
	if i == 0 {
		return 0
	}
	return int64(entries[i-1].position)
}

// lookupTime returns the relative offset of the last entry whose timestamp
// is at most ts: every record before it is older than ts. 0 if none.
func lookupTime(entries []timeEntry, ts int64) int64 {
	i := sort.Search(len(entries), func(i int) bool { return entries[i].timestamp > ts })
	if i == 0 {
		return 0
	}
	return int64(entries[i-1].relativeOffset)
}
