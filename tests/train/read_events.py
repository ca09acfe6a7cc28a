"""Independent reader of TensorBoard event files for the tests.

Pure Python: TFRecord framing with every masked CRC-32C checked (bitwise CRC, not a table),
and protobuf wire-format parsing of tensorflow.Event / Summary / Summary.Value by field number.
With --protobuf it also parses each payload with the google.protobuf runtime (a message class
built from a hand-written descriptor of the same schema) and checks both readings agree.

Prints a JSON list: [{"wall_time", "step", "file_version"?, "values": [[tag, value], ...]}].
"""

import json
import struct
import sys


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def records(blob):
    off = 0
    while off < len(blob):
        if off + 12 > len(blob):
            raise ValueError("truncated record header at %d" % off)
        header = blob[off:off + 8]
        (length,) = struct.unpack("<Q", header)
        (hcrc,) = struct.unpack("<I", blob[off + 8:off + 12])
        if hcrc != masked(header):
            raise ValueError("bad length CRC at %d" % off)
        payload = blob[off + 12:off + 12 + length]
        if len(payload) != length:
            raise ValueError("truncated payload at %d" % off)
        (pcrc,) = struct.unpack("<I", blob[off + 12 + length:off + 16 + length])
        if pcrc != masked(payload):
            raise ValueError("bad payload CRC at %d" % off)
        yield payload
        off += 16 + length


def varint(buf, i):
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, i


def fields(buf):
    """Yields (field number, wire type, value) for a message's fields."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = varint(buf, i)
        elif wire == 1:
            v = buf[i:i + 8]
            i += 8
        elif wire == 2:
            n, i = varint(buf, i)
            v = buf[i:i + n]
            i += n
        elif wire == 5:
            v = buf[i:i + 4]
            i += 4
        else:
            raise ValueError("unsupported wire type %d" % wire)
        yield num, wire, v


def parse_event(buf):
    ev = {"values": []}
    for num, wire, v in fields(buf):
        if num == 1 and wire == 1:
            ev["wall_time"] = struct.unpack("<d", v)[0]
        elif num == 2 and wire == 0:
            ev["step"] = v - (1 << 64) if v >= 1 << 63 else v
        elif num == 3 and wire == 2:
            ev["file_version"] = v.decode("utf-8")
        elif num == 5 and wire == 2:
            for snum, swire, sv in fields(v):
                if snum != 1 or swire != 2:
                    raise ValueError("unexpected Summary field %d" % snum)
                tag, value = None, None
                for vnum, vwire, vv in fields(sv):
                    if vnum == 1 and vwire == 2:
                        tag = vv.decode("utf-8")
                    elif vnum == 2 and vwire == 5:
                        value = struct.unpack("<f", vv)[0]
                    else:
                        raise ValueError("unexpected Summary.Value field %d" % vnum)
                ev["values"].append([tag, value])
        else:
            raise ValueError("unexpected Event field %d wire %d" % (num, wire))
    ev.setdefault("step", 0)
    return ev


def protobuf_class():
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="event_check.proto", package="check", syntax="proto3")
    value = fdp.message_type.add(name="Value")
    value.field.add(name="tag", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    value.field.add(name="simple_value", number=2, type=F.TYPE_FLOAT, label=F.LABEL_OPTIONAL)
    summary = fdp.message_type.add(name="Summary")
    summary.field.add(name="value", number=1, type=F.TYPE_MESSAGE, type_name=".check.Value",
                      label=F.LABEL_REPEATED)
    event = fdp.message_type.add(name="Event")
    event.field.add(name="wall_time", number=1, type=F.TYPE_DOUBLE, label=F.LABEL_OPTIONAL)
    event.field.add(name="step", number=2, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL)
    event.field.add(name="file_version", number=3, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    event.field.add(name="summary", number=5, type=F.TYPE_MESSAGE, type_name=".check.Summary",
                    label=F.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    desc = pool.FindMessageTypeByName("check.Event")
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    use_pb = "--protobuf" in sys.argv
    Event = protobuf_class() if use_pb else None
    out = []
    with open(args[0], "rb") as f:
        blob = f.read()
    for payload in records(blob):
        ev = parse_event(payload)
        if Event is not None:
            m = Event()
            m.ParseFromString(payload)
            pb = {
                "wall_time": m.wall_time,
                "step": m.step,
                "values": [[v.tag, v.simple_value] for v in m.summary.value],
            }
            if m.file_version:
                pb["file_version"] = m.file_version
            mine = {k: ev[k] for k in pb}
            if mine != pb or set(ev) != set(pb):
                raise ValueError("protobuf runtime disagrees: %r vs %r" % (pb, ev))
        out.append(ev)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
