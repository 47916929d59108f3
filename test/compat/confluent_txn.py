#!/usr/bin/python3
"""Transactions through librdkafka (Debian's python3-confluent-kafka).

Run with /usr/bin/python3, which has the Debian package:

  confluent_txn.py --bootstrap HOST:PORT [--topic NAME]

A transactional Producer (transactional.id set, so librdkafka runs
InitProducerId, AddPartitionsToTxn and EndTxn against the transaction
coordinator) commits one transaction of COMMITTED records, then writes
ABORTED more in a second transaction, flushes them so they are in the log,
and aborts it. Then two group consumers read the topic from the earliest
offset until the end of every partition:

  - isolation.level=read_committed must see exactly the committed records,
    in order: the aborted batch is filtered out using the fetch response's
    aborted-transaction list, and the markers are never delivered;
  - isolation.level=read_uncommitted must see all records, committed and
    aborted, in order, but still no control records (the consumer skips
    them, so the broker must mark them as control batches).

One line per check on stdout: "ok NAME" or "not ok NAME: what differed".
Exit status 1 if any check failed (or setup failed, with a message on
stderr).
"""

import argparse
import os
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

# How long any one wait for the broker may take.
DEADLINE_SECONDS = 30

# Records in the committed and in the aborted transaction.
COMMITTED = 5
ABORTED = 5


class CheckFailed(Exception):
    """The broker behaved differently from Kafka."""


def create_topic(bootstrap, topic):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=int(os.environ.get("SLUICE_COMPAT_RF", "1")))],
                                  operation_timeout=DEADLINE_SECONDS)
    try:
        futures[topic].result(timeout=DEADLINE_SECONDS)
    except KafkaException as error:
        if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise CheckFailed("create topic %s: %s" % (topic, error)) from error


def produce_transactions(bootstrap, topic):
    """Commits COMMITTED records and aborts ABORTED ones; returns both value lists."""
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "transactional.id": "sluice-compat-txn-" + topic,
        "transaction.timeout.ms": 60000,
    })
    committed = ["committed-%d" % i for i in range(COMMITTED)]
    aborted = ["aborted-%d" % i for i in range(ABORTED)]
    try:
        producer.init_transactions(DEADLINE_SECONDS)
        producer.begin_transaction()
        for value in committed:
            producer.produce(topic, key=value.encode(), value=value.encode())
        producer.commit_transaction(DEADLINE_SECONDS)
        producer.begin_transaction()
        for value in aborted:
            producer.produce(topic, key=value.encode(), value=value.encode())
        # Flush first so the aborted records really are in the log; an abort
        # of unsent records would only purge them client-side.
        remaining = producer.flush(DEADLINE_SECONDS)
        if remaining:
            raise CheckFailed("%d records of the second transaction not delivered" % remaining)
        producer.abort_transaction(DEADLINE_SECONDS)
    except KafkaException as error:
        raise CheckFailed("transactional producer: %s" % error) from error
    return committed, aborted


def consume_to_end(bootstrap, topic, isolation):
    """Reads topic from the earliest offset until every partition's end; returns the values."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "sluice-compat-txn-%s-%s" % (topic, isolation),
        "auto.offset.reset": "earliest",
        "isolation.level": isolation,
        "enable.partition.eof": True,
        "enable.auto.commit": False,
    })
    values = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + DEADLINE_SECONDS
        while True:
            if time.monotonic() > deadline:
                raise CheckFailed("%s consumer: no end of partition after %ds, read so far %s"
                                  % (isolation, DEADLINE_SECONDS, values))
            message = consumer.poll(1.0)
            if message is None:
                continue
            error = message.error()
            if error is None:
                values.append(message.value().decode())
                continue
            if error.code() == KafkaError._PARTITION_EOF:
                return values
            raise CheckFailed("%s consumer: %s" % (isolation, error))
    finally:
        consumer.close()


def check(name, want, got):
    if want == got:
        print("ok %s" % name)
        return True
    print("not ok %s: read %s, want %s" % (name, got, want))
    return False


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", default="compat-confluent-txn")
    args = parser.parse_args()
    try:
        create_topic(args.bootstrap, args.topic)
        committed, aborted = produce_transactions(args.bootstrap, args.topic)
        read_committed = consume_to_end(args.bootstrap, args.topic, "read_committed")
        read_uncommitted = consume_to_end(args.bootstrap, args.topic, "read_uncommitted")
    except CheckFailed as error:
        print("confluent_txn: %s" % error, file=sys.stderr)
        return 1
    ok = check("confluent-kafka read_committed consumer sees only the committed transaction",
               committed, read_committed)
    ok = check("confluent-kafka read_uncommitted consumer sees committed and aborted records, no markers",
               committed + aborted, read_uncommitted) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
