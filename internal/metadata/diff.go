package metadata

import (
	"cmp"
	"slices"
)

// TopicDiff is what changed between two images' topics, for OnChange
// listeners that create and delete partition logs. Each list is ordered by
// topic name.
type TopicDiff struct {
	// Created are topics in next whose ID prev does not have.
	Created []*Topic
	// Deleted are topics of prev whose ID next does not have. A topic
	// deleted and re-created under the same name appears in both lists.
	Deleted []*Topic
	// Changed are topics in both that a batch between prev and next
	// touched (a partition or config record), next's version; the values
	// may happen to be equal.
	Changed []*Topic
}

// DiffTopics compares the topics of prev and next. Apply shares every topic
// it does not touch, so an unchanged topic is the same pointer in both and
// the comparison is cheap.
func DiffTopics(prev, next *Image) TopicDiff {
	var diff TopicDiff
	for id, topic := range next.topicsByID {
		switch old := prev.topicsByID[id]; {
		case old == nil:
			diff.Created = append(diff.Created, topic)
		case old != topic:
			diff.Changed = append(diff.Changed, topic)
		}
	}
	for id, topic := range prev.topicsByID {
		if next.topicsByID[id] == nil {
			diff.Deleted = append(diff.Deleted, topic)
		}
	}
	for _, list := range [][]*Topic{diff.Created, diff.Deleted, diff.Changed} {
		slices.SortFunc(list, func(a, b *Topic) int { return cmp.Compare(a.Name, b.Name) })
	}
	return diff
}
