#!/usr/bin/python3
"""Compatibility checks of a Kafka broker with kafka-python (Debian's python3-kafka).

Run with /usr/bin/python3, which has the Debian packages (kafka-python 2.0.2 and
the snappy, lz4 and zstandard codecs). Two commands:

  kafka_python_compat.py --bootstrap HOST:PORT create-topic NAME [--partitions N]
      create a topic (used by scripts/compat.sh to prepare kcat's topics);
  kafka_python_compat.py --bootstrap HOST:PORT consume-commit GROUP TOPIC COUNT
      join GROUP, consume exactly COUNT records of TOPIC, commit them and
      leave (used by scripts/compat.sh to give Burrow a lag to report);
  kafka_python_compat.py --bootstrap HOST:PORT suite
      run every check; one line per check on stdout: "ok NAME",
      "skip NAME: why" or "not ok NAME: what differed". Exit status 1 if any
      check failed.

The checks: KafkaAdminClient creates, describes and deletes a topic, and, for
each codec, KafkaProducer writes keyed records with headers to chosen
partitions and a KafkaConsumer without a group (assigned partitions, reading
from the beginning) must read back exactly those records, in order, at the
offsets the producer was told. Then a KafkaConsumer in a consumer group
(enable_auto_commit off, explicit commit()) consumes part of a topic,
commits and stops; a restarted member must resume exactly after the commit:
every record consumed once, none lost, none twice.
"""

import argparse
import os
import importlib
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

# How long any one wait for the broker may take.
# Topics are created with this replication factor: 3 when the suite runs
# against a 3-broker cluster (scripts/compat.sh sets SLUICE_COMPAT_RF).
REPLICATION_FACTOR = int(os.environ.get("SLUICE_COMPAT_RF", "1"))

DEADLINE_SECONDS = 30

# Records per produce/consume check, spread over PARTITIONS partitions.
RECORDS = 30
PARTITIONS = 2

# Codec name -> module kafka-python needs for it (None: built in).
CODECS = {"none": None, "gzip": None, "snappy": "snappy", "lz4": "lz4.frame", "zstd": "zstandard"}


class CheckFailed(Exception):
    """A check saw the broker behave differently from Kafka."""


def admin_client(bootstrap):
    return KafkaAdminClient(bootstrap_servers=bootstrap, client_id="sluice-compat",
                            request_timeout_ms=DEADLINE_SECONDS * 1000)


def create_topic(admin, name, partitions):
    response = admin.create_topics([NewTopic(name, partitions, REPLICATION_FACTOR)], timeout_ms=DEADLINE_SECONDS * 1000)
    for error in response.topic_errors:
        # (topic, error_code) in v0, (topic, error_code, error_message) later
        if error[1] != 0:
            raise CheckFailed("create topic %s: error code %d (%s)" % (name, error[1], error[2:]))
    wait_for(lambda: topic_ready(admin, name, partitions), "topic %s to have %d partitions with leaders" % (name, partitions))


def topic_ready(admin, name, partitions):
    described = admin.describe_topics([name])
    if len(described) != 1 or described[0]["error_code"] != 0:
        return False
    parts = described[0]["partitions"]
    return len(parts) == partitions and all(p["error_code"] == 0 and p["leader"] >= 0 for p in parts)


def wait_for(condition, what):
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise CheckFailed("timed out after %ds waiting for %s" % (DEADLINE_SECONDS, what))
        time.sleep(0.1)  # polling the broker, not synchronising threads


def check_admin(bootstrap):
    """Create, describe, delete a topic; each step's result is checked."""
    name = "compat-py-admin"
    admin = admin_client(bootstrap)
    try:
        create_topic(admin, name, 3)
        try:
            create_topic(admin, name, 3)
            raise CheckFailed("creating %s twice succeeded, want TOPIC_ALREADY_EXISTS (36)" % name)
        except TopicAlreadyExistsError:
            pass
        if name not in admin.list_topics():
            raise CheckFailed("list_topics does not show the created topic %s" % name)
        described = admin.describe_topics([name])[0]
        got = sorted(p["partition"] for p in described["partitions"])
        if got != [0, 1, 2]:
            raise CheckFailed("describe_topics: partitions %s, want [0, 1, 2]" % got)
        for p in described["partitions"]:
            replicas = p["replicas"]
            if (len(replicas) != REPLICATION_FACTOR or len(set(replicas)) != len(replicas)
                    or p["leader"] not in replicas or sorted(p["isr"]) != sorted(replicas)):
                raise CheckFailed("describe_topics: partition %s, want %d distinct replicas, all in the ISR, one of them leader"
                                  % (p, REPLICATION_FACTOR))
        response = admin.delete_topics([name], timeout_ms=DEADLINE_SECONDS * 1000)
        for topic, code in response.topic_error_codes:
            if code != 0:
                raise CheckFailed("delete topic %s: error code %d" % (topic, code))
        wait_for(lambda: name not in admin.list_topics(), "deleted topic %s to leave list_topics" % name)
    finally:
        admin.close()


def expected_records():
    """(partition, key, value, headers) in send order."""
    records = []
    for i in range(RECORDS):
        value = ("value-%d " % i).encode() * (1 + i * 7)  # some long, compressible values
        headers = [("seq", str(i).encode()), ("origin", b"kafka-python")]
        records.append((i % PARTITIONS, ("key-%d" % i).encode(), value, headers))
    return records


def check_round_trip(bootstrap, codec):
    """Produce keyed records with headers, then read them back without a group."""
    topic = "compat-py-" + codec
    admin = admin_client(bootstrap)
    try:
        create_topic(admin, topic, PARTITIONS)
    finally:
        admin.close()
    sent = produce(bootstrap, topic, codec)
    received = consume(bootstrap, topic, len(sent))
    compare(sent, received)


def check_auto_create(bootstrap):
    """Produce to a topic nobody created: the producer's first Metadata answer
    for it is LEADER_NOT_AVAILABLE with no partitions (the broker has just
    created it, as Kafka answers); the producer must retry and deliver."""
    topic = "compat-py-auto-%d" % os.getpid()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", request_timeout_ms=DEADLINE_SECONDS * 1000,
                             max_block_ms=DEADLINE_SECONDS * 1000)
    try:
        values = [b"auto-%d" % i for i in range(5)]
        futures = [producer.send(topic, value=v, partition=0) for v in values]
        producer.flush(timeout=DEADLINE_SECONDS)
        offsets = [f.get(timeout=DEADLINE_SECONDS).offset for f in futures]
    finally:
        producer.close(timeout=DEADLINE_SECONDS)
    if offsets != list(range(5)):
        raise CheckFailed("auto-created topic: acknowledged at offsets %r, want 0-4" % offsets)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest", request_timeout_ms=DEADLINE_SECONDS * 1000 + 5000)
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        received = []
        deadline = time.monotonic() + DEADLINE_SECONDS
        while len(received) < len(values) and time.monotonic() < deadline:
            for _, records in consumer.poll(timeout_ms=500).items():
                received.extend(r.value for r in records)
    finally:
        consumer.close(autocommit=False)
    if received != values:
        raise CheckFailed("auto-created topic: consumed %r, produced %r" % (received, values))


def produce(bootstrap, topic, codec):
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                             compression_type=None if codec == "none" else codec,
                             request_timeout_ms=DEADLINE_SECONDS * 1000)
    try:
        futures = [(record, producer.send(topic, key=record[1], value=record[2], headers=record[3], partition=record[0]))
                   for record in expected_records()]
        producer.flush(timeout=DEADLINE_SECONDS)
        sent = []
        for record, future in futures:
            metadata = future.get(timeout=DEADLINE_SECONDS)
            if metadata.partition != record[0]:
                raise CheckFailed("produce: record for partition %d acknowledged on %d" % (record[0], metadata.partition))
            sent.append(record + (metadata.offset,))
        return sent
    finally:
        producer.close(timeout=DEADLINE_SECONDS)


def consume(bootstrap, topic, want):
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest", request_timeout_ms=DEADLINE_SECONDS * 1000 + 5000)
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        received = []
        deadline = time.monotonic() + DEADLINE_SECONDS
        while len(received) < want and time.monotonic() < deadline:
            for _, records in consumer.poll(timeout_ms=500).items():
                received.extend(records)
        return received
    finally:
        consumer.close(autocommit=False)


def compare(sent, received):
    if len(received) != len(sent):
        raise CheckFailed("consumed %d records, produced %d" % (len(received), len(sent)))
    for partition in range(PARTITIONS):
        want = [r for r in sent if r[0] == partition]
        got = [r for r in received if r.partition == partition]
        if len(got) != len(want):
            raise CheckFailed("partition %d: consumed %d records, produced %d" % (partition, len(got), len(want)))
        for w, g in zip(want, got):
            _, key, value, headers, offset = w
            if (g.offset, g.key, g.value, list(g.headers)) != (offset, key, value, headers):
                raise CheckFailed("partition %d offset %d: got key %r, %d-byte value, headers %r at offset %d; "
                                  "want key %r, %d-byte value, headers %r"
                                  % (partition, offset, g.key, len(g.value or b""), g.headers, g.offset,
                                     key, len(value), headers))


def group_consumer(bootstrap, group, topic):
    """A group member that hands out one record per poll, so a test can stop
    after exactly N records, and commits only when told."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                             auto_offset_reset="earliest", max_poll_records=1,
                             request_timeout_ms=DEADLINE_SECONDS * 1000 + 5000)
    consumer.subscribe([topic])
    return consumer


def poll_exactly(consumer, count):
    """(partition, offset) of the next count records the member receives."""
    received = []
    deadline = time.monotonic() + DEADLINE_SECONDS
    while len(received) < count:
        if time.monotonic() > deadline:
            raise CheckFailed("group member received %d of %d records in %ds" % (len(received), count, DEADLINE_SECONDS))
        for _, records in consumer.poll(timeout_ms=500, max_records=count - len(received)).items():
            received.extend((r.partition, r.offset) for r in records)
    return received


def consume_commit(bootstrap, group, topic, count):
    """Join group, consume exactly count records of topic, commit, leave."""
    consumer = group_consumer(bootstrap, group, topic)
    try:
        poll_exactly(consumer, count)
        consumer.commit()
    finally:
        consumer.close(autocommit=False)


def check_group_resume(bootstrap):
    """A group member commits after 20 of 30 records and stops; after 30 more
    are produced a restarted member reads exactly the 40 not committed."""
    topic = group = "compat-py-group"
    admin = admin_client(bootstrap)
    try:
        create_topic(admin, topic, PARTITIONS)
    finally:
        admin.close()
    produced = [(r[0], r[4]) for r in produce(bootstrap, topic, "none")]
    first = group_consumer(bootstrap, group, topic)
    try:
        consumed = poll_exactly(first, 20)
        first.commit()
    finally:
        first.close(autocommit=False)
    produced += [(r[0], r[4]) for r in produce(bootstrap, topic, "none")]
    restarted = group_consumer(bootstrap, group, topic)
    try:
        resumed = poll_exactly(restarted, len(produced) - len(consumed))
        restarted.commit()
        extra = [(r.partition, r.offset) for rs in restarted.poll(timeout_ms=1000).values() for r in rs]
    finally:
        restarted.close(autocommit=False)
    again = sorted(set(consumed) & set(resumed))
    if again:
        raise CheckFailed("the restarted member read %d committed records again, first %s" % (len(again), again[0]))
    missing = sorted(set(produced) - set(consumed) - set(resumed))
    if missing or extra:
        raise CheckFailed("records never consumed: %s; consumed past what was produced: %s" % (missing[:5], extra[:5]))


def run_check(name, check, *args):
    try:
        check(*args)
    except CheckFailed as failure:
        print("not ok %s: %s" % (name, failure), flush=True)
        return False
    except Exception as error:  # a client exception is a failed check, reported with its type
        print("not ok %s: %s: %s" % (name, type(error).__name__, error), flush=True)
        return False
    print("ok %s" % name, flush=True)
    return True


def suite(bootstrap):
    passed = run_check("kafka-python admin create/describe/delete topic", check_admin, bootstrap)
    for codec, module in CODECS.items():
        name = "kafka-python produce/consume keyed records with headers, %s" % codec
        if module is not None:
            try:
                importlib.import_module(module)
            except ImportError:
                print("skip %s: python module %s missing" % (name, module), flush=True)
                continue
        passed = run_check(name, check_round_trip, bootstrap, codec) and passed
    passed = run_check("kafka-python produces to an auto-created topic", check_auto_create, bootstrap) and passed
    passed = run_check("kafka-python group member commits, restarts and resumes with no loss or duplicate",
                       check_group_resume, bootstrap) and passed
    return 0 if passed else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True, help="host:port of a broker")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-topic", help="create a topic and wait for its leaders")
    create.add_argument("name")
    create.add_argument("--partitions", type=int, default=1)
    commit = commands.add_parser("consume-commit", help="consume exactly COUNT records in a group and commit")
    commit.add_argument("group")
    commit.add_argument("topic")
    commit.add_argument("count", type=int)
    commands.add_parser("suite", help="run every check")
    args = parser.parse_args()
    if args.command == "suite":
        return suite(args.bootstrap)
    if args.command == "consume-commit":
        try:
            consume_commit(args.bootstrap, args.group, args.topic, args.count)
        except CheckFailed as failure:
            print("consume-commit: %s" % failure, file=sys.stderr)
            return 1
        return 0
    admin = admin_client(args.bootstrap)
    try:
        create_topic(admin, args.name, args.partitions)
    except CheckFailed as failure:
        print("create-topic: %s" % failure, file=sys.stderr)
        return 1
    finally:
        admin.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
