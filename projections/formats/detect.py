"""What a file really is, read from its bytes; the name only chooses among kinds of text.

An upload's extension and declared type are claims. Magic numbers, the member names of a zip
and the streams of an OLE2 container decide; only when the bytes are text does the name (or the
declared type) say which kind of text — Markdown, CSV, HTML, a Python script.
"""

import io
import os
import zipfile

import olefile

from projections.formats.text import looks_like_text

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
DOC = "application/msword"
RTF = "application/rtf"
WPD = "application/vnd.wordperfect"
HTML = "text/html"
XHTML = "application/xhtml+xml"
MARKDOWN = "text/markdown"
CSV = "text/csv"
TSV = "text/tab-separated-values"
PLAIN = "text/plain"
UNKNOWN = "application/octet-stream"
ZIP = "application/zip"
OLE = "application/x-ole-storage"
ENCRYPTED_OFFICE = "application/x-encrypted-office"
"""An Office 2007+ file (.docx, .xlsx, …) saved with a password: an OLE2 box round a cipher text."""

# (offset, magic, media type, what a person would call it, the family named in "… are not supported yet")
_MAGIC: tuple[tuple[int, bytes, str, str, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png", "a PNG image", "images"),
    (0, b"\xff\xd8\xff", "image/jpeg", "a JPEG image", "images"),
    (0, b"GIF87a", "image/gif", "a GIF image", "images"),
    (0, b"GIF89a", "image/gif", "a GIF image", "images"),
    (0, b"II*\x00", "image/tiff", "a TIFF image", "images"),
    (0, b"MM\x00*", "image/tiff", "a TIFF image", "images"),
    (8, b"WEBP", "image/webp", "a WebP image", "images"),
    (4, b"ftypheic", "image/heic", "a HEIC image", "images"),
    (4, b"ftypavif", "image/avif", "an AVIF image", "images"),
    (0, b"\x00\x00\x01\x00", "image/vnd.microsoft.icon", "an icon image", "images"),
    (0, b"AT&TFORM", "image/vnd.djvu", "a DjVu document", "DjVu documents"),
    (8, b"WAVE", "audio/wav", "a WAV recording", "audio files"),
    (0, b"ID3", "audio/mpeg", "an MP3 recording", "audio files"),
    (0, b"OggS", "audio/ogg", "an Ogg recording", "audio files"),
    (0, b"fLaC", "audio/flac", "a FLAC recording", "audio files"),
    (4, b"ftypM4A", "audio/mp4", "an M4A recording", "audio files"),
    (4, b"ftypqt", "video/quicktime", "a QuickTime video", "video files"),
    (4, b"ftyp", "video/mp4", "an MP4 video", "video files"),
    (0, b"\x1a\x45\xdf\xa3", "video/webm", "a WebM/Matroska video", "video files"),
    (8, b"AVI ", "video/x-msvideo", "an AVI video", "video files"),
    (0, b"\x1f\x8b", "application/gzip", "a gzip archive", "archives"),
    (0, b"BZh", "application/x-bzip2", "a bzip2 archive", "archives"),
    (0, b"\xfd7zXZ\x00", "application/x-xz", "an xz archive", "archives"),
    (0, b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed", "a 7-Zip archive", "archives"),
    (0, b"Rar!\x1a\x07", "application/vnd.rar", "a RAR archive", "archives"),
    (0, b"\x28\xb5\x2f\xfd", "application/zstd", "a Zstandard archive", "archives"),
    (257, b"ustar", "application/x-tar", "a tar archive", "archives"),
    (0, b"\x7fELF", "application/x-executable", "a Linux program", "programs"),
    (0, b"MZ", "application/vnd.microsoft.portable-executable", "a Windows program", "programs"),
    (0, b"\xcf\xfa\xed\xfe", "application/x-mach-binary", "a macOS program", "programs"),
    (0, b"\xca\xfe\xba\xbe", "application/java-vm", "a compiled Java class", "programs"),
    (0, b"\x00asm", "application/wasm", "a WebAssembly module", "programs"),
    (0, b"SQLite format 3\x00", "application/vnd.sqlite3", "an SQLite database", "databases"),
    (0, b"wOFF", "font/woff", "a WOFF font", "fonts"),
    (0, b"wOF2", "font/woff2", "a WOFF2 font", "fonts"),
    (0, b"\x00\x01\x00\x00\x00", "font/ttf", "a TrueType font", "fonts"),
    (0, b"OTTO", "font/otf", "an OpenType font", "fonts"),
    (0, b"%!PS", "application/postscript", "a PostScript file", "PostScript files"),
)

_ZIP_KINDS: dict[str, tuple[str, str]] = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (
        "an Excel workbook (.xlsx)",
        "spreadsheets",
    ),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": (
        "a PowerPoint presentation (.pptx)",
        "presentations",
    ),
    "application/vnd.oasis.opendocument.text": ("an OpenDocument text (.odt)", "ODF files"),
    "application/vnd.oasis.opendocument.spreadsheet": (
        "an OpenDocument spreadsheet (.ods)",
        "spreadsheets",
    ),
    "application/vnd.oasis.opendocument.presentation": (
        "an OpenDocument presentation (.odp)",
        "presentations",
    ),
    "application/epub+zip": ("an EPUB e-book", "e-books"),
    ZIP: ("a zip archive", "archives"),
}

_OLE_KINDS: dict[str, tuple[str, str]] = {
    "application/vnd.ms-excel": ("an Excel 97-2003 workbook (.xls)", "spreadsheets"),
    "application/vnd.ms-powerpoint": (
        "a PowerPoint 97-2003 presentation (.ppt)",
        "presentations",
    ),
    "application/vnd.ms-outlook": ("an Outlook message (.msg)", "e-mail messages"),
    OLE: ("an OLE2 compound file of an unknown kind", "such files"),
}

_TEXT_BY_EXTENSION: dict[str, str] = {
    ".txt": PLAIN, ".text": PLAIN, ".log": PLAIN, ".me": PLAIN,
    ".md": MARKDOWN, ".markdown": MARKDOWN, ".mdown": MARKDOWN, ".mkd": MARKDOWN,
    ".csv": CSV, ".tsv": TSV, ".tab": TSV,
    ".html": HTML, ".htm": HTML, ".shtml": HTML, ".xhtml": XHTML, ".xht": XHTML,
    ".json": "application/json", ".jsonl": "application/jsonl", ".ndjson": "application/jsonl",
    ".xml": "application/xml", ".xsd": "application/xml", ".xsl": "application/xml",
    ".svg": "image/svg+xml", ".yaml": "application/yaml", ".yml": "application/yaml",
    ".toml": "application/toml", ".ini": "text/x-ini", ".cfg": "text/x-ini", ".conf": "text/plain",
    ".env": "text/plain", ".properties": "text/x-java-properties",
    ".py": "text/x-python", ".pyi": "text/x-python", ".pyw": "text/x-python",
    ".js": "text/javascript", ".mjs": "text/javascript", ".cjs": "text/javascript",
    ".jsx": "text/javascript", ".ts": "text/x-typescript", ".tsx": "text/x-typescript",
    ".sh": "text/x-shellscript", ".bash": "text/x-shellscript", ".zsh": "text/x-shellscript",
    ".fish": "text/x-shellscript", ".ps1": "text/x-powershell", ".bat": "text/x-msdos-batch",
    ".cmd": "text/x-msdos-batch", ".css": "text/css", ".scss": "text/x-scss",
    ".less": "text/x-less", ".sql": "application/sql", ".go": "text/x-go",
    ".rs": "text/x-rust", ".java": "text/x-java", ".kt": "text/x-kotlin", ".kts": "text/x-kotlin",
    ".scala": "text/x-scala", ".swift": "text/x-swift", ".c": "text/x-c", ".h": "text/x-c",
    ".cpp": "text/x-c++", ".cc": "text/x-c++", ".cxx": "text/x-c++", ".hpp": "text/x-c++",
    ".hh": "text/x-c++", ".cs": "text/x-csharp", ".m": "text/x-objective-c",
    ".rb": "text/x-ruby", ".php": "text/x-php", ".pl": "text/x-perl", ".pm": "text/x-perl",
    ".lua": "text/x-lua", ".r": "text/x-r", ".jl": "text/x-julia", ".hs": "text/x-haskell",
    ".ex": "text/x-elixir", ".exs": "text/x-elixir", ".erl": "text/x-erlang",
    ".clj": "text/x-clojure", ".dart": "text/x-dart", ".vue": "text/x-vue",
    ".svelte": "text/x-svelte", ".tex": "text/x-tex", ".bib": "text/x-bibtex",
    ".rst": "text/x-rst", ".adoc": "text/asciidoc", ".org": "text/x-org",
    ".diff": "text/x-diff", ".patch": "text/x-diff", ".proto": "text/x-protobuf",
    ".graphql": "application/graphql", ".tf": "text/x-terraform", ".nix": "text/x-nix",
    ".vim": "text/x-vim", ".el": "text/x-elisp", ".asm": "text/x-asm", ".s": "text/x-asm",
    ".f90": "text/x-fortran", ".zig": "text/x-zig", ".nim": "text/x-nim",
    ".dockerfile": "text/x-dockerfile", ".makefile": "text/x-makefile", ".mk": "text/x-makefile",
    ".cmake": "text/x-cmake", ".gradle": "text/x-groovy", ".groovy": "text/x-groovy",
    ".ipynb": "application/x-ipynb+json",
}  # fmt: skip

_TEXT_BY_BASENAME: dict[str, str] = {
    "dockerfile": "text/x-dockerfile",
    "makefile": "text/x-makefile",
    "gnumakefile": "text/x-makefile",
    "readme": PLAIN,
    "license": PLAIN,
}

TEXT_TYPES: frozenset[str] = frozenset({*_TEXT_BY_EXTENSION.values(), *_TEXT_BY_BASENAME.values()})
"""Every media type that detect_type gives to text (the text extractors take them all)."""

_NAMED: dict[str, tuple[str, str]] = {
    **{m[2]: (m[3], m[4]) for m in _MAGIC},
    **_ZIP_KINDS,
    **_OLE_KINDS,
    UNKNOWN: ("binary data of an unknown kind", "unknown binary files"),
}


def describe(media_type: str) -> tuple[str, str]:
    """What a person calls a type we do not extract, and its family: ("a PNG image", "images")."""
    return _NAMED.get(media_type, (f"a {media_type} file", f"{media_type} files"))


def extension_type(name: str) -> str | None:
    """The media type the file's name claims, if it names one we know (text or a document)."""
    base = os.path.basename(name).lower()
    ext = os.path.splitext(base)[1]
    documents = {".pdf": PDF, ".docx": DOCX, ".doc": DOC, ".rtf": RTF, ".wpd": WPD, ".wp": WPD}
    return documents.get(ext) or _TEXT_BY_EXTENSION.get(ext) or _TEXT_BY_BASENAME.get(base)


def detect_type(data: bytes, name: str, declared: str | None = None) -> str:
    """The real media type of `data`; `name` and `declared` only choose among kinds of text."""
    head = data[:1024]
    # Readers accept junk before the header; the trailer tells a PDF from a note quoting "%PDF-".
    if head.startswith(b"%PDF-") or (b"%PDF-" in head and b"%%EOF" in data[-4096:]):
        return PDF
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_type(data, name)
    if head.startswith(olefile.MAGIC):
        return _ole_type(data, name)
    if head.startswith(b"\xffWPC"):
        return WPD
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{\\rtf"):
        return RTF
    if looks_like_text(data):
        return _text_type(data, name, declared)
    for offset, magic, media_type, _, _ in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return media_type
    return UNKNOWN


def _text_type(data: bytes, name: str, declared: str | None) -> str:
    claimed = extension_type(name)
    if claimed in TEXT_TYPES:
        return claimed
    if declared:
        base = declared.split(";")[0].strip().lower()
        if base in TEXT_TYPES:
            return base
    sniff = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if sniff.startswith((b"<!doctype html", b"<html")):
        return HTML
    if sniff.startswith(b"<?xml") and b"http://www.w3.org/1999/xhtml" in data[:2048]:
        return XHTML
    return PLAIN


def _zip_type(data: bytes, name: str) -> str:
    try:
        # Reading the central directory inflates nothing, so even a zip bomb is safe to list.
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            mimetype = b""
            if "mimetype" in names and archive.getinfo("mimetype").file_size < 200:
                mimetype = archive.read("mimetype").strip()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        # A broken zip that claims to be a .docx is a corrupt Word document, not an archive.
        return DOCX if extension_type(name) == DOCX else ZIP
    if "word/document.xml" in names or any(n.startswith("word/document") for n in names):
        return DOCX
    if "xl/workbook.xml" in names:
        return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    if "ppt/presentation.xml" in names:
        return "application/vnd.openxmlformats-officedocument.presentationml.presentation"
    if mimetype and mimetype.decode("ascii", "replace") in _ZIP_KINDS:
        return mimetype.decode("ascii")
    return ZIP


def _ole_type(data: bytes, name: str) -> str:
    try:
        with olefile.OleFileIO(data) as ole:
            streams = {"/".join(entry).lower() for entry in ole.listdir()}
    except Exception:  # olefile raises OSError, struct.error, IndexError, … on damage
        # A broken OLE2 file named .doc is a corrupt Word document, which the .doc reader reports.
        return DOC if extension_type(name) == DOC else OLE
    if "encryptedpackage" in streams:
        return ENCRYPTED_OFFICE
    if "worddocument" in streams:
        return DOC
    if "workbook" in streams or "book" in streams:
        return "application/vnd.ms-excel"
    if "powerpoint document" in streams:
        return "application/vnd.ms-powerpoint"
    if any(s.startswith("__substg1.0_") for s in streams):
        return "application/vnd.ms-outlook"
    return OLE
