"""moto's server, with DynamoDB transactions made fit for a concurrent workload.

moto 5.x snapshots every table a TransactWriteItems touches with ``copy.deepcopy`` (once per
operation in the transaction), and on a cancelled transaction puts the snapshot back. Under
the worker's concurrent writes that has three effects a real DynamoDB never shows:

* each transaction costs time proportional to the table (a 10,000-event soak slows to a crawl);
* a copy taken while another request writes fails with "dictionary changed size during
  iteration" (an HTTP 500);
* a rolled-back transaction restores the whole table, erasing writes that other requests
  committed meanwhile.

Here a transaction snapshots only the items it touches and restores only those, and every
DynamoDB read and write runs under one lock, so transactions are atomic and isolated as
DynamoDB's are. A cancelled transaction also leaves nothing in the table's stream (moto would
keep a record of each write it undid, and of the undoing), and stream reads take the same lock,
so no reader sees a write that is rolled back. Everything else is moto's own server, unchanged: ``python moto_server.py -H
127.0.0.1 -p 5000``.
"""

import copy
import functools
import threading

from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodbstreams.models import DynamoDBStreamsBackend
from moto.server import main

_LOCK = threading.RLock()


def _serialized(method):
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with _LOCK:
            return method(*args, **kwargs)

    return wrapper


class _TablesAreNotCopied:
    """Stands in for the ``copy`` module inside moto's transaction: the table 'snapshot' is the
    table itself, so moto's own rollback is a no-op and the per-item one below does the work."""

    @staticmethod
    def deepcopy(value, memo=None):
        return value


def _key_of(backend, table_name, op):
    table = backend.get_table(table_name)
    if "Item" in op:
        item = op["Item"]
        key = {table.hash_key_attr: item[table.hash_key_attr]}
        if table.range_key_attr is not None:
            key[table.range_key_attr] = item[table.range_key_attr]
        return key
    return op.get("Key")


_original_transact_write_items = DynamoDBBackend.transact_write_items


def _transact_write_items(self, transact_items):
    with _LOCK:
        snapshots = []
        stream_lengths = {}
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            table_name = op.get("TableName")
            if not table_name or table_name not in self.tables:
                continue
            key = _key_of(self, table_name, op)
            if key is None:
                continue
            current = self.get_item(table_name, key)
            attributes = copy.deepcopy(current.to_json()["Attributes"]) if current else None
            snapshots.append((table_name, key, attributes))
            shard = self.tables[table_name].stream_shard
            if shard is not None:
                stream_lengths.setdefault(table_name, len(shard.items))

        dynamodb_models.copy = _TablesAreNotCopied
        try:
            return _original_transact_write_items(self, transact_items)
        except Exception:
            for table_name, key, attributes in reversed(snapshots):
                if attributes is None:
                    if self.get_item(table_name, key) is not None:
                        self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, attributes)
            for table_name, length in stream_lengths.items():
                del self.tables[table_name].stream_shard.items[length:]
            raise
        finally:
            dynamodb_models.copy = copy


DynamoDBBackend.transact_write_items = _transact_write_items
for _name in ("put_item", "update_item", "delete_item", "get_item", "query", "scan"):
    setattr(DynamoDBBackend, _name, _serialized(getattr(DynamoDBBackend, _name)))
DynamoDBStreamsBackend.get_records = _serialized(DynamoDBStreamsBackend.get_records)


if __name__ == "__main__":
    main()
