package controller

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/metadata"
)

// DeleteTopics handles DeleteTopics v0-v6: by name (TopicNames, v0-v5, or
// Topics entries with a name) or by topic ID (Topics entries, v6+, KIP-516).
// Deleting a topic removes its partitions and config overrides in one batch.
func (c *Controller) DeleteTopics(ctx context.Context, req *kmsg.DeleteTopicsRequest) *kmsg.DeleteTopicsResponse {
	var resp *kmsg.DeleteTopicsResponse
	code := c.write(ctx, func(img *metadata.Image) []metadata.Record {
		records, planned := planDeleteTopics(img, req, c.cfg.DeleteTopicEnable)
		resp = planned
		return records
	})
	if code != nil {
		return deleteTopicsErrorResponse(req, defaultAPIError(code))
	}
	return resp
}

// planDeleteTopics is the pure core of DeleteTopics, following Kafka's
// ControllerApis.deleteTopics: with delete.topic.enable=false every topic
// fails (INVALID_REQUEST before v3, TOPIC_DELETION_DISABLED after);
// otherwise an entry with both or neither of name and ID is INVALID_REQUEST,
// a name or ID given twice is INVALID_REQUEST once, an unknown name is
// UNKNOWN_TOPIC_OR_PARTITION, an unknown ID UNKNOWN_TOPIC_ID, and a name
// that resolves to an ID also given by ID is INVALID_REQUEST (the ID entry
// then gets no result of its own, as in Kafka). Kafka shuffles the results
// so their order carries no information; here they come in Kafka's
// pre-shuffle order.
func planDeleteTopics(img *metadata.Image, req *kmsg.DeleteTopicsRequest, enabled bool) ([]metadata.Record, *kmsg.DeleteTopicsResponse) {
	if !enabled {
		if req.Version < 3 {
			return nil, deleteTopicsErrorResponse(req, newAPIError(kerr.InvalidRequest, "Topic deletion is disabled."))
		}
		return nil, deleteTopicsErrorResponse(req, defaultAPIError(kerr.TopicDeletionDisabled))
	}
	d := deletion{img: img, resp: req.ResponseKind().(*kmsg.DeleteTopicsResponse), idToName: make(map[[16]byte]string)}
	d.collect(req)
	d.resolveIDs()
	d.resolveNames()
	return d.remove(), d.resp
}

// deletion is the working state of one planDeleteTopics; the field names
// follow Kafka's ControllerApis.deleteTopics.
type deletion struct {
	img  *metadata.Image
	resp *kmsg.DeleteTopicsResponse

	names, duplicateNames []string
	nameSet, dupNameSet   map[string]bool
	ids, duplicateIDs     [][16]byte
	idSet, dupIDSet       map[[16]byte]bool

	// idToName holds the topics to delete, in the order they were resolved.
	idToName map[[16]byte]string
	order    [][16]byte
}

func (d *deletion) add(name *string, id [16]byte, failure *apiError) {
	result := kmsg.NewDeleteTopicsResponseTopic()
	result.Topic = name
	result.TopicID = id
	result.ErrorCode = failure.errorCode()
	result.ErrorMessage = failure.errorMessage()
	d.resp.Topics = append(d.resp.Topics, result)
}

func (d *deletion) collect(req *kmsg.DeleteTopicsRequest) {
	d.nameSet, d.dupNameSet = make(map[string]bool), make(map[string]bool)
	d.idSet, d.dupIDSet = make(map[[16]byte]bool), make(map[[16]byte]bool)
	for _, name := range req.TopicNames {
		d.addName(name)
	}
	for _, t := range req.Topics {
		switch {
		case t.Topic == nil && t.TopicID == [16]byte{}:
			d.add(nil, [16]byte{}, newAPIError(kerr.InvalidRequest, "Neither topic name nor id were specified."))
		case t.Topic == nil:
			d.addID(t.TopicID)
		case t.TopicID == [16]byte{}:
			d.addName(*t.Topic)
		default:
			d.add(t.Topic, t.TopicID, newAPIError(kerr.InvalidRequest, "You may not specify both topic name and topic id."))
		}
	}
	for _, name := range d.duplicateNames {
		d.add(&name, [16]byte{}, newAPIError(kerr.InvalidRequest, "Duplicate topic name."))
	}
	for _, id := range d.duplicateIDs {
		d.add(nil, id, newAPIError(kerr.InvalidRequest, "Duplicate topic id."))
	}
}

func (d *deletion) addName(name string) {
	if d.dupNameSet[name] {
		return
	}
	if d.nameSet[name] {
		d.dupNameSet[name] = true
		d.duplicateNames = append(d.duplicateNames, name)
		delete(d.nameSet, name)
		return
	}
	d.nameSet[name] = true
	d.names = append(d.names, name)
}

func (d *deletion) addID(id [16]byte) {
	if d.dupIDSet[id] {
		return
	}
	if d.idSet[id] {
		d.dupIDSet[id] = true
		d.duplicateIDs = append(d.duplicateIDs, id)
		delete(d.idSet, id)
		return
	}
	d.idSet[id] = true
	d.ids = append(d.ids, id)
}

// resolveIDs looks up the topics given by ID.
func (d *deletion) resolveIDs() {
	for _, id := range d.ids {
		if !d.idSet[id] {
			continue
		}
		topic := d.img.TopicByID(id)
		if topic == nil {
			d.add(nil, id, defaultAPIError(kerr.UnknownTopicID))
			continue
		}
		d.schedule(id, topic.Name)
	}
}

// resolveNames looks up the topics given by name.
func (d *deletion) resolveNames() {
	for _, name := range d.names {
		if !d.nameSet[name] {
			continue
		}
		topic := d.img.TopicByName(name)
		if topic == nil {
			d.add(&name, [16]byte{}, defaultAPIError(kerr.UnknownTopicOrPartition))
			continue
		}
		if _, given := d.idToName[topic.ID]; given || d.dupIDSet[topic.ID] {
			delete(d.idToName, topic.ID)
			d.dupIDSet[topic.ID] = true
			d.add(&name, topic.ID, newAPIError(kerr.InvalidRequest, "The provided topic name maps to an ID that was already supplied."))
			continue
		}
		d.schedule(topic.ID, name)
	}
}

func (d *deletion) schedule(id [16]byte, name string) {
	d.idToName[id] = name
	d.order = append(d.order, id)
}

// remove emits a RemoveTopicRecord and a success result per topic to delete.
func (d *deletion) remove() []metadata.Record {
	var records []metadata.Record
	for _, id := range d.order {
		name, ok := d.idToName[id]
		if !ok {
			continue
		}
		records = append(records, &metadata.RemoveTopicRecord{TopicID: id})
		d.add(&name, id, nil)
	}
	return records
}

// deleteTopicsErrorResponse fails every topic of the request with the same
// error, as Kafka's DeleteTopicsRequest.getErrorResponse does.
func deleteTopicsErrorResponse(req *kmsg.DeleteTopicsRequest, failure *apiError) *kmsg.DeleteTopicsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	fail := func(name *string, id [16]byte) {
		result := kmsg.NewDeleteTopicsResponseTopic()
		result.Topic = name
		result.TopicID = id
		result.ErrorCode = failure.errorCode()
		result.ErrorMessage = failure.errorMessage()
		resp.Topics = append(resp.Topics, result)
	}
	for _, name := range req.TopicNames {
		fail(&name, [16]byte{})
	}
	for _, t := range req.Topics {
		fail(t.Topic, t.TopicID)
	}
	return resp
}
