"""An independent RecordIO writer for the tests (standard library `struct` only).

usage: write_rec.py OUT_PREFIX {insightface|im2rec}

Writes OUT_PREFIX.rec and OUT_PREFIX.idx and prints a JSON manifest of every record:
{"key", "flag", "label", "labels", "id", "image" (hex)}. Records follow the dmlc framing:
magic, length word with the continuation flag in its top 3 bits, payload split wherever the
magic number sits at a 4-byte aligned position, zero padding to 4 bytes. Payloads are an
IRHeader ("<IfQQ") plus `flag` float32 labels plus image bytes.
"""
import json
import struct
import sys

MAGIC = 0xCED7230A


def frame(payload):
    magic = struct.pack("<I", MAGIC)
    cuts = [i for i in range(0, len(payload) - 3, 4) if payload[i:i + 4] == magic]
    out = bytearray()
    start = 0
    pieces = []
    for c in cuts:
        pieces.append((1 if start == 0 else 2, payload[start:c]))
        start = c + 4
    pieces.append((3 if cuts else 0, payload[start:]))
    for flag, body in pieces:
        out += magic + struct.pack("<I", (flag << 29) | len(body)) + body
    out += b"\0" * ((4 - len(payload) % 4) % 4)
    return bytes(out)


def pack(label, image, rid=0, id2=0):
    if isinstance(label, (list, tuple)):
        return struct.pack("<IfQQ", len(label), 0.0, rid, id2) + struct.pack(
            "<%df" % len(label), *label) + image
    return struct.pack("<IfQQ", 0, float(label), rid, id2) + image


def fake_image(n, seed):
    # deterministic bytes with a JPEG signature; some contain the magic at aligned spots
    b = bytearray(b"\xff\xd8\xff\xe0")
    x = seed * 2654435761 % 2**32 or 1
    while len(b) < n:
        x = (x * 1103515245 + 12345) % 2**31
        b.append((x >> 16) & 0xFF)
    if seed % 3 == 0 and n > 16:
        b[8:12] = struct.pack("<I", MAGIC)
    if seed % 5 == 0 and n > 40:
        b[36:40] = struct.pack("<I", MAGIC)
    return bytes(b[:n])


def main():
    prefix, mode = sys.argv[1], sys.argv[2]
    records = []  # (key, label, image, id)
    if mode == "insightface":
        classes = [3, 1, 4]  # images per class
        key = 1
        ranges = []
        for c, n in enumerate(classes):
            start = key
            for j in range(n):
                records.append((key, c, fake_image(30 + 7 * key, key), key))
                key += 1
            ranges.append((start, key))
        first_id = key
        for c, (s, e) in enumerate(ranges):
            records.append((first_id + c, [float(s), float(e)], b"", 0))
        records.insert(0, (0, [float(first_id), float(first_id + len(classes))], b"", 0))
    else:
        for key in range(6):
            label = [float(key % 2), 0.5, 7.0] if key in (2, 4) else key % 2
            records.append((key, label, fake_image(25 + 9 * key, key + 1), 0))
    manifest = []
    with open(prefix + ".rec", "wb") as rec, open(prefix + ".idx", "w") as idx:
        for key, label, image, rid in records:
            idx.write("%d\t%d\n" % (key, rec.tell()))
            rec.write(frame(pack(label, image, rid)))
            arr = isinstance(label, list)
            manifest.append({
                "key": key,
                "flag": len(label) if arr else 0,
                "label": 0.0 if arr else float(label),
                "labels": label if arr else [],
                "id": rid,
                "image": image.hex(),
            })
    json.dump(manifest, sys.stdout)


if __name__ == "__main__":
    main()
