"""Records are partitioned as the Java client partitions them (murmur2 of the key, made
positive, modulo the partition count), with each key's hash remembered: a consumer or a
producer of another language that keys the same way sees one key on one partition."""

from __future__ import annotations

import random

from shared.producer import partition_of

# Apache Kafka's own vectors for its murmur2 (clients/.../utils/UtilsTest.testMurmur2), as
# the signed 32-bit values the Java client computes.
JAVA_MURMUR2 = {
    "21": -973932308,
    "foobar": -790332482,
    "a-little-bit-long-string": -985981536,
    "a-little-bit-longer-string": -1486304829,
    "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    "abc": 479470107,
}


def java_partition(hash_: int, count: int) -> int:
    """`Utils.toPositive(Utils.murmur2(key)) % numPartitions`, the Java default."""
    return (hash_ & 0x7FFFFFFF) % count


def test_a_key_lands_where_the_java_client_puts_it() -> None:
    for count in (1, 3, 6, 12, 50):
        partitions = list(range(count))
        for key, hash_ in JAVA_MURMUR2.items():
            for _ in range(2):  # computed, then remembered
                assert partition_of(key.encode(), partitions, partitions) == java_partition(
                    hash_, count
                )


def test_the_remembered_hash_follows_the_partition_count() -> None:
    key = b"foobar"
    seen = {count: partition_of(key, list(range(count)), []) for count in range(1, 40)}
    assert seen == {count: java_partition(JAVA_MURMUR2["foobar"], count) for count in seen}


def test_the_partition_is_one_of_the_topics_ids_in_order() -> None:
    # aiokafka hands the sorted partition ids; the index picks among them.
    ids = [0, 1, 2, 3, 4, 5]
    assert partition_of(b"abc", ids, ids) == ids[java_partition(JAVA_MURMUR2["abc"], 6)]


def test_no_key_goes_to_an_available_partition() -> None:
    random.seed(7)
    picks = {partition_of(None, [0, 1, 2, 3], [1, 3]) for _ in range(200)}
    assert picks == {1, 3}
    assert {partition_of(None, [0, 1], []) for _ in range(200)} == {0, 1}
