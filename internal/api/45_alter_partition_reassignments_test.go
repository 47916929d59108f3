package api

import (
	"context"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// reassignController is the api Controller of these tests: it records the
// reassignment requests the handlers pass on and answers them as the
// controller would (internal/controller's tests hold the semantics).
type reassignController struct {
	Controller
	alters []*kmsg.AlterPartitionAssignmentsRequest
	lists  []*kmsg.ListPartitionReassignmentsRequest
}

func (r *reassignController) AlterPartitionReassignments(_ context.Context, req *kmsg.AlterPartitionAssignmentsRequest) *kmsg.AlterPartitionAssignmentsResponse {
	r.alters = append(r.alters, req)
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	resp.AllowReplicationFactorChange = req.AllowReplicationFactorChange
	for _, t := range req.Topics {
		rt := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			rp.Partition = p.Partition
			if p.Replicas == nil {
				rp.ErrorCode = kerr.NoReassignmentInProgress.Code
				rp.ErrorMessage = kmsg.StringPtr(kerr.NoReassignmentInProgress.Description)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func (r *reassignController) ListPartitionReassignments(_ context.Context, req *kmsg.ListPartitionReassignmentsRequest) *kmsg.ListPartitionReassignmentsResponse {
	r.lists = append(r.lists, req)
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	rt := kmsg.NewListPartitionReassignmentsResponseTopic()
	rt.Topic = "t"
	rp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
	rp.Replicas, rp.AddingReplicas, rp.RemovingReplicas = []int32{2, 3, 1}, []int32{3}, []int32{1}
	rt.Partitions = append(rt.Partitions, rp)
	resp.Topics = append(resp.Topics, rt)
	return resp
}

// roundTrip encodes req at its version and decodes it as the broker's
// reader would, runs it, and decodes the response as the client would.
func roundTrip[R kmsg.Response](t *testing.T, b *Broker, req kmsg.Request, resp R) R {
	t.Helper()
	body := kmsg.RequestForKey(req.Key())
	body.SetVersion(req.GetVersion())
	if err := body.ReadFrom(req.AppendTo(nil)); err != nil {
		t.Fatalf("decode v%d request: %v", req.GetVersion(), err)
	}
	rep := b.Handle(context.Background(), &Request{Key: req.Key(), Version: req.GetVersion(), Body: body})
	return finish(t, req, rep, resp)
}

func alterReassignments(version int16, replicas []int32) *kmsg.AlterPartitionAssignmentsRequest {
	req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	req.SetVersion(version)
	rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
	rp.Replicas = replicas
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// Both APIs are advertised at the versions served and pass through to the
// controller over the wire: v1 carries AllowReplicationFactorChange both
// ways, v0 decodes it as Kafka's default (true), null replicas (a cancel)
// survive decoding as null, and the listing's replica lists arrive intact.
func TestPartitionReassignmentsOverTheWire(t *testing.T) {
	ctrl := &reassignController{}
	b := New(Config{Controller: ctrl})
	served := map[kmsg.Key][2]int16{}
	for _, r := range b.supported() {
		served[r.key] = [2]int16{r.minVersion, r.maxVersion}
	}
	if got := served[kmsg.AlterPartitionAssignments]; got != [2]int16{0, 1} {
		t.Errorf("AlterPartitionReassignments served v%d-v%d, want v0-v1", got[0], got[1])
	}
	if got, ok := served[kmsg.ListPartitionReassignments]; !ok || got != [2]int16{0, 0} {
		t.Errorf("ListPartitionReassignments served v%d-v%d (%v), want v0", got[0], got[1], ok)
	}

	forbid := alterReassignments(1, []int32{2, 3})
	forbid.AllowReplicationFactorChange = false
	resp := roundTrip(t, b, forbid, kmsg.NewPtrAlterPartitionAssignmentsResponse())
	if resp.AllowReplicationFactorChange || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("v1 response %+v", resp)
	}
	if got := ctrl.alters[0]; got.AllowReplicationFactorChange || !reflect.DeepEqual(got.Topics[0].Partitions[0].Replicas, []int32{2, 3}) {
		t.Fatalf("v1 request reached the controller as %+v", got)
	}
	roundTrip(t, b, alterReassignments(0, []int32{2, 3}), kmsg.NewPtrAlterPartitionAssignmentsResponse())
	if !ctrl.alters[1].AllowReplicationFactorChange {
		t.Fatal("v0 request: AllowReplicationFactorChange is not Kafka's default, true")
	}
	cancel := roundTrip(t, b, alterReassignments(0, nil), kmsg.NewPtrAlterPartitionAssignmentsResponse())
	if ctrl.alters[2].Topics[0].Partitions[0].Replicas != nil {
		t.Fatal("null replicas (a cancel) decoded as a list")
	}
	if got := cancel.Topics[0].Partitions[0]; got.ErrorCode != kerr.NoReassignmentInProgress.Code || got.ErrorMessage == nil {
		t.Fatalf("cancel answer %+v", got)
	}

	listed := roundTrip(t, b, kmsg.NewPtrListPartitionReassignmentsRequest(), kmsg.NewPtrListPartitionReassignmentsResponse())
	if ctrl.lists[0].Topics != nil {
		t.Fatal("a list of everything (null topics) decoded as an empty list")
	}
	if len(listed.Topics) != 1 || len(listed.Topics[0].Partitions) != 1 {
		t.Fatalf("listed %+v", listed)
	}
	if lp := listed.Topics[0].Partitions[0]; !reflect.DeepEqual(lp.Replicas, []int32{2, 3, 1}) ||
		!reflect.DeepEqual(lp.AddingReplicas, []int32{3}) || !reflect.DeepEqual(lp.RemovingReplicas, []int32{1}) {
		t.Fatalf("listed partition %+v", lp)
	}
}
