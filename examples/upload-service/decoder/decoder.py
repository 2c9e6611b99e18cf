# The upload decoder: identifies an untrusted upload and describes it as
# plain JSON data. Python's standard library only. It runs inside sandbond's
# "decoder" profile (a fresh rootless container per upload, no network, a
# default-deny seccomp filter, 128 MiB of memory): the upload arrives as
# bytes over the bond, and nothing here touches the file system.
#
# decode(data) returns one of
#   {"kind": "zip", "entries": [{"name", "size", "compressed_size"}, ...],
#    "entry_count", "total_size", "total_compressed_size"}
#   {"kind": "xml", "root": TAG, "elements": N}
#   {"kind": "png" | "jpeg" | "gif", "width": W, "height": H}
#   {"kind": "text", "encoding": GUESS, "lines": N, "characters": N}
# or raises Refused (hostile or over a cap), Malformed (truncated or corrupt)
# or Unsupported (an unknown binary format). Both the example's Go service
# (examples/upload-service) and sandboxd's shipped config
# (cmd/sandboxd/configs/decoder.json) load this file.

import io
import struct
import zipfile
import zlib
from xml.parsers import expat

# Caps: what the decoder is willing to look at.
MAX_ZIP_ENTRIES = 1000
MAX_ZIP_TOTAL = 64 << 20  # bytes of declared uncompressed data, all entries
MAX_XML_DEPTH = 256
CHUNK = 64 << 10


class DecodeError(Exception):
    """Base of the errors the decoder raises on purpose."""


class Refused(DecodeError):
    """The upload is over a cap or uses a refused feature (DTDs)."""


class Malformed(DecodeError):
    """The upload is truncated or corrupt."""


class Unsupported(DecodeError):
    """The upload is binary data of a format the decoder does not know."""


def decode(data):
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError("decode() takes bytes, not %s" % type(data).__name__)
    data = bytes(data)
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        kind, fn = "zip", decode_zip
    elif data.startswith(b"\x89PNG\r\n\x1a\n"):
        kind, fn = "png", decode_png
    elif data.startswith(b"\xff\xd8\xff"):
        kind, fn = "jpeg", decode_jpeg
    elif data.startswith(b"GIF87a") or data.startswith(b"GIF89a"):
        kind, fn = "gif", decode_gif
    elif looks_like_xml(data):
        kind, fn = "xml", decode_xml
    else:
        kind, fn = "text", decode_text
    try:
        return fn(data)
    except DecodeError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, expat.ExpatError, struct.error,
            zlib.error, EOFError, UnicodeDecodeError, ValueError, IndexError,
            NotImplementedError) as e:
        raise Malformed("%s: %s: %s" % (kind, type(e).__name__, e)) from None


# --- zip ---------------------------------------------------------------------

def decode_zip(data):
    # The central directory is all zipfile reads when it opens the archive:
    # sizes are reported from it, and checked against the caps before a
    # single byte is inflated. Entries are then read in chunks (to check
    # their CRC), in memory, never extracted.
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        infos = z.infolist()
        if len(infos) > MAX_ZIP_ENTRIES:
            raise Refused("zip: %d entries, more than the %d this decoder inspects"
                          % (len(infos), MAX_ZIP_ENTRIES))
        total = sum(i.file_size for i in infos)
        if total > MAX_ZIP_TOTAL:
            raise Refused("zip: %d bytes uncompressed (central directory), more than the %d "
                          "this decoder inspects: a zip bomb?" % (total, MAX_ZIP_TOTAL))
        entries = []
        for i in infos:
            entries.append({"name": i.filename, "size": i.file_size,
                            "compressed_size": i.compress_size})
            if i.flag_bits & 0x1 or i.is_dir():
                continue  # encrypted: listed, not read
            seen = 0
            with z.open(i) as f:  # checks the CRC at the end
                while True:
                    chunk = f.read(CHUNK)
                    if not chunk:
                        break
                    seen += len(chunk)
                    if seen > i.file_size:
                        raise Malformed("zip: entry %r inflates past its declared size" % i.filename)
            if seen != i.file_size:
                raise Malformed("zip: entry %r is %d bytes, not the %d declared"
                                % (i.filename, seen, i.file_size))
        return {"kind": "zip", "entries": entries, "entry_count": len(entries),
                "total_size": total,
                "total_compressed_size": sum(i.compress_size for i in infos)}


# --- xml ---------------------------------------------------------------------

def looks_like_xml(data):
    head = data[:64]
    for bom in (b"\xef\xbb\xbf",):
        if head.startswith(bom):
            head = head[len(bom):]
    head = head.lstrip()
    return head.startswith(b"<?xml") or head.startswith(b"<!") or (
        head[:1] == b"<" and head[1:2].isalpha())


def decode_xml(data):
    # expat directly, with any DTD refused: no internal subset, so no
    # entity declarations (billion laughs), no external entities (XXE).
    p = expat.ParserCreate()
    p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    state = {"root": None, "elements": 0, "depth": 0}

    def refuse_dtd(*_):
        raise Refused("xml: a document type declaration (DOCTYPE) is refused: "
                      "no DTDs, no entity declarations")

    def refuse_entity(*_):
        raise Refused("xml: entity declarations and references are refused")

    def start(name, _attrs):
        if state["root"] is None:
            state["root"] = name
        state["elements"] += 1
        state["depth"] += 1
        if state["depth"] > MAX_XML_DEPTH:
            raise Refused("xml: nested deeper than %d elements" % MAX_XML_DEPTH)

    def end(_name):
        state["depth"] -= 1

    p.StartDoctypeDeclHandler = refuse_dtd
    p.EntityDeclHandler = refuse_entity
    p.UnparsedEntityDeclHandler = refuse_entity
    p.ExternalEntityRefHandler = refuse_entity
    p.StartElementHandler = start
    p.EndElementHandler = end
    p.Parse(data, True)
    return {"kind": "xml", "root": state["root"], "elements": state["elements"]}


# --- images ------------------------------------------------------------------

def decode_png(data):
    # The signature, then chunks up to IEND: each one's length within the
    # file and its CRC right; IHDR first, with the dimensions.
    pos, first, width, height = 8, True, 0, 0
    while True:
        if pos + 8 > len(data):
            raise Malformed("png: truncated before IEND")
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 8 + length + 4
        if end > len(data):
            raise Malformed("png: truncated in chunk %r" % ctype.decode("latin-1"))
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[end - 4:end])
        if zlib.crc32(ctype + body) != crc:
            raise Malformed("png: bad CRC in chunk %r" % ctype.decode("latin-1"))
        if first:
            if ctype != b"IHDR" or length != 13:
                raise Malformed("png: the first chunk is not IHDR")
            width, height = struct.unpack(">II", body[:8])
            if not (0 < width < 1 << 31 and 0 < height < 1 << 31):
                raise Malformed("png: bad dimensions %dx%d" % (width, height))
            first = False
        if ctype == b"IEND":
            return {"kind": "png", "width": width, "height": height}
        pos = end


SOF_MARKERS = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def decode_jpeg(data):
    # Markers from SOI to the first start-of-frame, which holds the size.
    pos = 2
    while True:
        while pos < len(data) and data[pos] == 0xFF:
            pos += 1  # fill bytes
        if pos >= len(data):
            raise Malformed("jpeg: truncated before a start-of-frame marker")
        marker = data[pos]
        pos += 1
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            continue  # no length
        if marker in (0xD9, 0xDA):
            raise Malformed("jpeg: no start-of-frame marker before the image data")
        if pos + 2 > len(data):
            raise Malformed("jpeg: truncated in marker 0x%02X" % marker)
        (length,) = struct.unpack(">H", data[pos:pos + 2])
        if length < 2 or pos + length > len(data):
            raise Malformed("jpeg: truncated in marker 0x%02X" % marker)
        if marker in SOF_MARKERS:
            if length < 7:
                raise Malformed("jpeg: short start-of-frame")
            height, width = struct.unpack(">HH", data[pos + 3:pos + 7])
            return {"kind": "jpeg", "width": width, "height": height}
        pos += length
        if data[pos:pos + 1] != b"\xff":
            raise Malformed("jpeg: no marker at offset %d" % pos)


def decode_gif(data):
    if len(data) < 13:
        raise Malformed("gif: truncated header")
    width, height = struct.unpack("<HH", data[6:10])
    return {"kind": "gif", "width": width, "height": height}


# --- text --------------------------------------------------------------------

TEXT_CONTROLS = set(range(0x20)) - {0x09, 0x0A, 0x0C, 0x0D}


def decode_text(data):
    if data.startswith(b"\xef\xbb\xbf"):
        encoding, text = "utf-8", data[3:].decode("utf-8")
    elif data.startswith(b"\xff\xfe") or data.startswith(b"\xfe\xff"):
        encoding, text = "utf-16", data.decode("utf-16")
    else:
        if b"\x00" in data or sum(1 for b in data[:4096] if b in TEXT_CONTROLS) > 4096 // 100:
            raise Unsupported("binary data of an unknown format")
        try:
            encoding, text = "ascii", data.decode("ascii")
        except UnicodeDecodeError:
            try:
                encoding, text = "utf-8", data.decode("utf-8")
            except UnicodeDecodeError:
                encoding, text = "iso-8859-1", data.decode("latin-1")
    lines = text.count("\n") + (1 if text and not text.endswith("\n") else 0)
    return {"kind": "text", "encoding": encoding, "lines": lines, "characters": len(text)}
