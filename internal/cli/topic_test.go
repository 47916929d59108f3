package cli

import (
	"strings"
	"testing"
)

func TestTopicLifecycleTableAndJSON(t *testing.T) {
	b := startBroker(t)
	bs := "--bootstrap=" + b.Addr()

	created := mustRun(t, "", "topic", "create", "orders", "--partitions", "3", "--config", "retention.ms=86400000", bs)
	if want := `Created topic "orders" with 3 partitions, replication factor 1.`; strings.TrimSpace(created.stdout) != want {
		t.Fatalf("create printed %q, want %q", created.stdout, want)
	}
	var createdJSON []createResult
	decodeJSON(t, mustRun(t, "", "topic", "create", "payments", "-o", "json", bs), &createdJSON)
	if len(createdJSON) != 1 || !createdJSON[0].Created || createdJSON[0].Partitions != 1 || createdJSON[0].ID == "" {
		t.Fatalf("create -o json = %+v: want one created topic with the broker's 1 partition and an ID", createdJSON)
	}

	list := mustRun(t, "", "topic", "list", bs)
	lines := strings.Split(strings.TrimSpace(list.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.HasPrefix(lines[1], "orders  ") || !strings.HasPrefix(lines[2], "payments") {
		t.Fatalf("topic list table:\n%s\nwant a header, then orders and payments in order", list.stdout)
	}
	if fields := strings.Fields(lines[1]); fields[1] != "3" || fields[2] != "1" {
		t.Errorf("orders row %q: want 3 partitions, replication factor 1", lines[1])
	}
	var listed []topicSummary
	decodeJSON(t, mustRun(t, "", "topic", "list", "-o", "json", bs), &listed)
	if len(listed) != 2 || listed[0].Name != "orders" || listed[0].Partitions != 3 || listed[0].ID != createdID(t, b.Addr(), "orders") {
		t.Fatalf("topic list -o json = %+v", listed)
	}
	var withInternal []topicSummary
	decodeJSON(t, mustRun(t, "", "topic", "list", "--internal", "-o", "json", bs), &withInternal)
	for _, topic := range withInternal {
		if topic.Internal && topic.Name != "__consumer_offsets" {
			t.Errorf("unexpected internal topic %+v", topic)
		}
	}

	mustRun(t, "a\nb\nc\n", "produce", "orders", "--partition", "1", bs)
	var described []topicDescription
	decodeJSON(t, mustRun(t, "", "topic", "describe", "orders", "-o", "json", bs), &described)
	d := described[0]
	if d.PartitionCount != 3 || len(d.Partitions) != 3 || d.ReplicationFactor != 1 {
		t.Fatalf("describe = %+v: want 3 partitions, replication factor 1", d)
	}
	p1 := d.Partitions[1]
	if p1.Partition != 1 || p1.Leader != 1 || p1.StartOffset != 0 || p1.EndOffset != 3 || len(p1.ISR) != 1 || p1.ISR[0] != 1 {
		t.Errorf("partition 1 = %+v: want leader 1, ISR [1], offsets 0..3", p1)
	}
	if len(d.Configs) != 1 || d.Configs[0].Name != "retention.ms" || *d.Configs[0].Value != "86400000" || d.Configs[0].Source != "DYNAMIC_TOPIC_CONFIG" {
		t.Errorf("configs = %+v: want only the retention.ms override", d.Configs)
	}
	table := mustRun(t, "", "topic", "describe", "orders", bs).stdout
	for _, want := range []string{"Topic: orders", "Partitions: 3", "PARTITION  LEADER  EPOCH  REPLICAS  ISR  OFFLINE  START-OFFSET  END-OFFSET  STATUS", "retention.ms  86400000  DYNAMIC_TOPIC_CONFIG"} {
		if !strings.Contains(table, want) {
			t.Errorf("describe table lacks %q:\n%s", want, table)
		}
	}
	var all []topicDescription
	decodeJSON(t, mustRun(t, "", "topic", "describe", "orders", "--all-configs", "-o", "json", bs), &all)
	if len(all[0].Configs) < 10 {
		t.Errorf("--all-configs gave %d configs, want the defaults too", len(all[0].Configs))
	}

	grown := mustRun(t, "", "topic", "add-partitions", "orders", "--count", "2", bs)
	if !strings.Contains(grown.stdout, `Topic "orders": 3 -> 5 partitions.`) {
		t.Errorf("add-partitions printed %q", grown.stdout)
	}
	var set []partitionResult
	decodeJSON(t, mustRun(t, "", "topic", "add-partitions", "orders", "--total", "6", "-o", "json", bs), &set)
	if len(set) != 1 || set[0].Before != 5 || set[0].After != 6 {
		t.Errorf("add-partitions --total 6 = %+v", set)
	}

	altered := mustRun(t, "", "topic", "alter-config", "orders", "--set", "retention.ms=1000", "--set", "cleanup.policy=compact", bs)
	if !strings.Contains(altered.stdout, "set retention.ms=1000") {
		t.Errorf("alter-config printed %q", altered.stdout)
	}
	mustRun(t, "", "topic", "alter-config", "orders", "--delete", "cleanup.policy", bs)
	decodeJSON(t, mustRun(t, "", "topic", "describe", "orders", "-o", "json", bs), &described)
	if got := described[0].Configs; len(got) != 1 || *got[0].Value != "1000" || described[0].PartitionCount != 6 {
		t.Errorf("after alter: configs %+v, %d partitions; want only retention.ms=1000 and 6 partitions", got, described[0].PartitionCount)
	}

	deleted := mustRun(t, "", "topic", "delete", "orders", "payments", bs)
	if !strings.Contains(deleted.stdout, `Deleted topic "orders".`) || !strings.Contains(deleted.stdout, `Deleted topic "payments".`) {
		t.Errorf("delete printed %q", deleted.stdout)
	}
	var empty []topicSummary
	decodeJSON(t, mustRun(t, "", "topic", "list", "-o", "json", bs), &empty)
	if len(empty) != 0 {
		t.Errorf("topics left after delete: %+v", empty)
	}
}

// createdID reads a topic's ID through kadm, independently of the CLI.
func createdID(t *testing.T, addr, topic string) string {
	t.Helper()
	var described []topicDescription
	decodeJSON(t, mustRun(t, "", "topic", "describe", topic, "-o", "json", "--bootstrap", addr), &described)
	return described[0].ID
}

func TestTopicErrorsNameTheCause(t *testing.T) {
	b := startBroker(t)
	bs := "--bootstrap=" + b.Addr()
	mustRun(t, "", "topic", "create", "orders", bs)

	mustFail(t, `topic "orders" already exists`, "topic", "create", "orders", bs)
	if r := mustRun(t, "", "topic", "create", "orders", "--if-not-exists", bs); !strings.Contains(r.stdout, "already exists") {
		t.Errorf("--if-not-exists printed %q", r.stdout)
	}
	mustFail(t, `topic "missing" does not exist`, "topic", "describe", "missing", bs)
	mustFail(t, `topic "missing" does not exist`, "topic", "delete", "missing", bs)
	mustRun(t, "", "topic", "delete", "missing", "--if-exists", bs)
	mustFail(t, `topic "missing" does not exist`, "topic", "add-partitions", "missing", "--count", "1", bs)
	mustFail(t, `topic "missing" does not exist`, "topic", "alter-config", "missing", "--set", "retention.ms=1", bs)
	mustFail(t, "give either --count N", "topic", "add-partitions", "orders", bs)
	mustFail(t, "INVALID_PARTITIONS", "topic", "add-partitions", "orders", "--total", "1", bs)
	mustFail(t, `--config "retention.ms": want key=value`, "topic", "create", "x", "--config", "retention.ms", bs)
	mustFail(t, "--partitions 0", "topic", "create", "x", "--partitions", "0", bs)
	mustFail(t, "INVALID_CONFIG", "topic", "create", "x", "--config", "retention.ms=soon", bs)
	mustFail(t, "nothing to change", "topic", "alter-config", "orders", bs)
	mustFail(t, `output "xml": want table, json or yaml`, "topic", "list", "-o", "xml", bs)
	mustFail(t, `unknown command "extra"`, "topic", "list", "extra", bs)

	dry := mustRun(t, "", "topic", "create", "planned", "--partitions", "4", "--dry-run", bs)
	if !strings.Contains(dry.stdout, "would be created with 4 partitions") {
		t.Errorf("dry run printed %q", dry.stdout)
	}
	mustFail(t, `topic "planned" does not exist`, "topic", "describe", "planned", bs)
}

func TestTopicListYAML(t *testing.T) {
	b := startBroker(t)
	bs := "--bootstrap=" + b.Addr()
	mustRun(t, "", "topic", "create", "123", "-p", "2", bs)
	out := mustRun(t, "", "topic", "list", "-o", "yaml", bs).stdout
	// A name that looks like a number stays a string in YAML.
	for _, want := range []string{`- name: "123"`, "  partitions: 2", "  replication_factor: 1", "  internal: false"} {
		if !strings.Contains(out, want) {
			t.Errorf("yaml output lacks %q:\n%s", want, out)
		}
	}
}
