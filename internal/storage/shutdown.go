package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math"
	"path/filepath"

	"github.com/sluice-io/sluice/internal/vfs"
)

// cleanShutdownName is the marker a broker leaves in a log directory after
// closing every log cleanly (Kafka's .kafka_cleanshutdown).
const cleanShutdownName = ".sluice_cleanshutdown"

// The marker's versioned header. Version 2 goes on with the active
// segments of the directory's logs (ShutdownStates, format at
// encodeShutdownStates); version 1, from earlier releases, is the header
// alone and still reads as clean.
var (
	cleanShutdownV1 = []byte("sluice clean shutdown\nversion 1\n")
	cleanShutdownV2 = []byte("sluice clean shutdown\nversion 2\n")
)

// maxCleanShutdownBytes bounds the marker read at start: about 5 million
// logs' states, far past any broker's partition cap.
const maxCleanShutdownBytes = 512 << 20

// ShutdownState is what a clean Close knew of its log (Log.ShutdownState):
// the active segment, and the contents of the log's checkpoint and
// leader-epoch files. The clean-shutdown marker keeps it for every log of
// the directory, so that the next start loads each log from it instead of
// reading those two files and the segment's two indexes and walking its
// tail: one file read for the whole directory instead of about twenty
// system calls per partition, which was most of a clean restart at
// 100,000 partitions. Indexes of more than one entry are still read
// (OffsetEntries, TimeEntries say how many to expect); a single entry is
// in the state itself (LastOffset*, LastTime*), so the indexes of a small
// active segment, the usual case for an idle partition, are not opened at
// all. The files' contents are used only for files the directory listing
// names, and only when the state has them (checkpointed, epochsKnown).
type ShutdownState struct {
	Base, Size, NextOffset                             int64
	MaxTimestamp, OffsetOfMaxTimestamp, FirstTimestamp int64
	OffsetEntries, TimeEntries                         int64
	// The last entry of each index, when it has one.
	LastOffsetRelative, LastOffsetPosition int64
	LastTimeTimestamp, LastTimeRelative    int64

	// checkpointed says checkpoint is what the checkpoint file holds.
	checkpointed bool
	checkpoint   checkpoint
	// epochsKnown says epochs is what the leader-epoch file holds.
	epochsKnown bool
	epochs      epochEntries
}

// stateFields is how many int64 a ShutdownState encodes to before its
// leader epochs.
const stateFields = 17

func (s ShutdownState) fields() [stateFields]int64 {
	epochs := int64(-1)
	if s.epochsKnown {
		epochs = int64(len(s.epochs))
	}
	return [...]int64{s.Base, s.Size, s.NextOffset, s.MaxTimestamp, s.OffsetOfMaxTimestamp, s.FirstTimestamp,
		s.OffsetEntries, s.TimeEntries, s.LastOffsetRelative, s.LastOffsetPosition, s.LastTimeTimestamp, s.LastTimeRelative,
		boolField(s.checkpointed), s.checkpoint.logStartOffset, s.checkpoint.recoveryPoint, s.checkpoint.firstDirtyOffset, epochs}
}

// epochsToEncode is the epochs the encoding carries: none unless known,
// as the count in fields says.
func (s ShutdownState) epochsToEncode() epochEntries {
	if !s.epochsKnown {
		return nil
	}
	return s.epochs
}

func boolField(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func stateOf(v [stateFields]int64) ShutdownState {
	return ShutdownState{Base: v[0], Size: v[1], NextOffset: v[2], MaxTimestamp: v[3], OffsetOfMaxTimestamp: v[4],
		FirstTimestamp: v[5], OffsetEntries: v[6], TimeEntries: v[7], LastOffsetRelative: v[8], LastOffsetPosition: v[9],
		LastTimeTimestamp: v[10], LastTimeRelative: v[11],
		checkpointed: v[12] == 1, checkpoint: checkpoint{logStartOffset: v[13], recoveryPoint: v[14], firstDirtyOffset: v[15]},
		epochsKnown: v[16] >= 0}
}

// ShutdownStates is the active segment of each log of a log directory,
// keyed by the log's directory name (<topic>-<partition>).
type ShutdownStates map[string]ShutdownState

// WriteCleanShutdown durably marks logDir as cleanly shut down, with the
// states of its logs' active segments (nil: none known). Call it after
// every Log in the directory has been closed.
func WriteCleanShutdown(fsys vfs.FS, logDir string, states ShutdownStates) error {
	name := filepath.Join(logDir, cleanShutdownName)
	if err := writeFileAtomic(fsys, logDir, name, encodeShutdownStates(states)); err != nil {
		return fmt.Errorf("write clean shutdown marker: %w", err)
	}
	return nil
}

// TakeCleanShutdown reports whether logDir holds a valid clean-shutdown
// marker, with the states it recorded, and removes it, durably, before
// anything is written: a crash from here on must lead to recovery. An
// unreadable or damaged marker counts as unclean.
func TakeCleanShutdown(fsys vfs.FS, logDir string) (clean bool, states ShutdownStates, err error) {
	name := filepath.Join(logDir, cleanShutdownName)
	info, err := fsys.Stat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil, nil
	}
	if err != nil {
		return false, nil, fmt.Errorf("read clean shutdown marker: %w", err)
	}
	var content []byte
	if info.Size <= maxCleanShutdownBytes { // larger is not a marker this Sluice wrote
		if content, err = vfs.ReadFile(fsys, name, maxCleanShutdownBytes); err != nil {
			return false, nil, fmt.Errorf("read clean shutdown marker: %w", err)
		}
	}
	if err := fsys.Remove(name); err != nil {
		return false, nil, fmt.Errorf("remove clean shutdown marker: %w", err)
	}
	if err := fsys.SyncDir(logDir); err != nil { // fsync point: the marker is gone
		return false, nil, fmt.Errorf("remove clean shutdown marker: %w", err)
	}
	states, ok := decodeShutdownStates(content)
	return ok, states, nil
}

// encodeShutdownStates lays out the version 2 marker: the header, then
//
//	count uint32, then count times:
//	  name length uint16, name,
//	  the ShutdownState's fields (int64 each, in the order of fields),
//	  the last being the number of leader epochs (-1: not known), then
//	  that many pairs of epoch and start offset (int64 each),
//	then a CRC-32C of everything after the header (uint32),
//
// integers big-endian.
func encodeShutdownStates(states ShutdownStates) []byte {
	b := bytes.Clone(cleanShutdownV2)
	b = binary.BigEndian.AppendUint32(b, uint32(len(states)))
	for name, s := range states {
		b = binary.BigEndian.AppendUint16(b, uint16(len(name)))
		b = append(b, name...)
		for _, v := range s.fields() {
			b = binary.BigEndian.AppendUint64(b, uint64(v))
		}
		for _, e := range s.epochsToEncode() {
			b = binary.BigEndian.AppendUint64(b, uint64(e.epoch))
			b = binary.BigEndian.AppendUint64(b, uint64(e.startOffset))
		}
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b[len(cleanShutdownV2):], crc32c))
}

// decodeShutdownStates reads a marker; ok is false for anything but a
// well-formed version 1 or 2 marker.
func decodeShutdownStates(b []byte) (states ShutdownStates, ok bool) {
	if bytes.Equal(b, cleanShutdownV1) {
		return nil, true
	}
	body, found := bytes.CutPrefix(b, cleanShutdownV2)
	if !found || len(body) < 8 {
		return nil, false
	}
	crcAt := len(body) - 4
	if crc32.Checksum(body[:crcAt], crc32c) != binary.BigEndian.Uint32(body[crcAt:]) {
		return nil, false
	}
	body = body[:crcAt]
	count := binary.BigEndian.Uint32(body)
	body = body[4:]
	const fields = stateFields
	if uint64(count)*(2+fields*8) > uint64(len(body)) {
		return nil, false
	}
	states = make(ShutdownStates, count)
	for range count {
		if len(body) < 2 {
			return nil, false
		}
		n := int(binary.BigEndian.Uint16(body))
		if len(body) < 2+n+fields*8 {
			return nil, false
		}
		name := string(body[2 : 2+n])
		body = body[2+n:]
		var v [fields]int64
		for i := range v {
			v[i] = int64(binary.BigEndian.Uint64(body[i*8:]))
		}
		body = body[fields*8:]
		state := stateOf(v)
		if n := v[fields-1]; n > 0 {
			if n > int64(len(body))/16 {
				return nil, false
			}
			state.epochs = make(epochEntries, n)
			for i := range state.epochs {
				epoch, start := int64(binary.BigEndian.Uint64(body)), int64(binary.BigEndian.Uint64(body[8:]))
				if epoch < 0 || epoch > math.MaxInt32 || start < 0 {
					return nil, false
				}
				state.epochs[i] = epochEntry{epoch: int32(epoch), startOffset: start}
				body = body[16:]
			}
		}
		states[name] = state
	}
	return states, len(body) == 0
}

// plausible reports whether s can describe a segment at all; a marker
// whose CRC matched is not expected to fail it, but a state is only
// trusted as far as it can be checked.
func (s ShutdownState) plausible() bool {
	span := s.NextOffset - s.Base
	ok := s.Base >= 0 && s.Size >= 0 && s.Size <= math.MaxInt32 && span >= 0 && span <= math.MaxInt32 &&
		s.OffsetEntries >= 0 && s.TimeEntries >= 0
	if s.OffsetEntries > 0 {
		ok = ok && s.LastOffsetRelative >= 0 && s.LastOffsetRelative < span && s.LastOffsetPosition >= 0 && s.LastOffsetPosition < s.Size
	}
	if s.TimeEntries > 0 {
		ok = ok && s.LastTimeRelative >= 0 && s.LastTimeRelative < span
	}
	return ok
}

// indexes returns the indexes of a state with at most one entry in each;
// ok is false when they must be read from the files.
func (s ShutdownState) indexes() (offsets []offsetEntry, times []timeEntry, ok bool) {
	if s.OffsetEntries > 1 || s.TimeEntries > 1 {
		return nil, nil, false
	}
	if s.OffsetEntries == 1 {
		offsets = []offsetEntry{{relativeOffset: uint32(s.LastOffsetRelative), position: uint32(s.LastOffsetPosition)}}
	}
	if s.TimeEntries == 1 {
		times = []timeEntry{{timestamp: s.LastTimeTimestamp, relativeOffset: uint32(s.LastTimeRelative)}}
	}
	return offsets, times, true
}
