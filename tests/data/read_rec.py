"""An independent RecordIO reader for the tests (standard library `struct` only).

usage: read_rec.py PREFIX

Reads PREFIX.idx, then every record of PREFIX.rec by its offset, joining multi-part records
(re-inserting the magic between parts), and prints a JSON list of
{"key", "flag", "label", "labels", "id", "id2", "image" (hex)} in .idx order.
"""
import json
import struct
import sys

MAGIC = 0xCED7230A


def read_record(f, offset):
    f.seek(offset)
    parts = []
    while True:
        magic, lrec = struct.unpack("<II", f.read(8))
        if magic != MAGIC:
            raise ValueError("bad magic at %d" % f.tell())
        cflag, length = lrec >> 29, lrec & ((1 << 29) - 1)
        body = f.read(length)
        if len(body) != length:
            raise ValueError("truncated")
        f.read((4 - length % 4) % 4)
        parts.append(body)
        if cflag in (0, 3):
            break
    return struct.pack("<I", MAGIC).join(parts)


def main():
    prefix = sys.argv[1]
    entries = []
    with open(prefix + ".idx") as idx:
        for line in idx:
            if line.strip():
                k, o = line.strip().split("\t")
                entries.append((int(k), int(o)))
    out = []
    with open(prefix + ".rec", "rb") as f:
        for key, offset in entries:
            s = read_record(f, offset)
            flag, label, rid, id2 = struct.unpack("<IfQQ", s[:24])
            labels = list(struct.unpack("<%df" % flag, s[24:24 + 4 * flag])) if flag else []
            out.append({
                "key": key,
                "flag": flag,
                "label": label,
                "labels": labels,
                "id": rid,
                "id2": id2,
                "image": s[24 + 4 * flag:].hex(),
            })
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
