"""Read the RB-C1000 scored topic with plain confluent-kafka and fastavro, no rbc1000 code.

    python examples/consume_scored.py container BOOTSTRAP TOPIC
    python examples/consume_scored.py confluent BOOTSTRAP TOPIC REGISTRY_URL

Prints one JSON line per scored record (packet bytes left out) and stops after 10 s without
a new message. `container` is the service's default output framing: each message is an Avro
object container with the schema inside. `confluent` is `--output-framing confluent`: a zero
byte, the 4-byte schema id the registry gave `<topic>-value`, then the schemaless Avro body.
"""

import io
import json
import sys
import urllib.request
import uuid

import fastavro
from confluent_kafka import Consumer


def read_container(value):
    """Framing `container`: the schema travels inside every message."""
    (record,) = fastavro.reader(io.BytesIO(value))
    return record


SCHEMAS = {}  # schema id -> parsed writer schema, fetched once per id


def read_confluent(value, registry_url):
    """Framing `confluent`: fetch the writer schema of the id in bytes 1-4 from the registry."""
    schema_id = int.from_bytes(value[1:5], "big")
    if schema_id not in SCHEMAS:
        with urllib.request.urlopen(f"{registry_url}/schemas/ids/{schema_id}") as response:
            SCHEMAS[schema_id] = fastavro.parse_schema(json.loads(json.load(response)["schema"]))
    return fastavro.schemaless_reader(io.BytesIO(value[5:]), SCHEMAS[schema_id], None)


def main(framing, bootstrap, topic, registry_url=None):
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"example-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    try:
        while (message := consumer.poll(10.0)) is not None:
            if message.error():
                continue
            value = message.value()
            record = read_container(value) if framing == "container" else read_confluent(value, registry_url)
            record.pop("alert_packet", None)
            print(json.dumps(record, default=str), flush=True)
    finally:
        consumer.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
