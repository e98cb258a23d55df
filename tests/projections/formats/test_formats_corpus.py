"""Every HIGH format, as a real file: its sentence comes out, with its media type, page and heading."""

import pytest

from projections.formats import Extracted, detect_type, extract, location_at
from tests.projections.formats.corpus import Sample, good_corpus, require_tools_of

CORPUS = good_corpus()


@pytest.mark.parametrize("sample", CORPUS, ids=[s.name for s in CORPUS])
def test_known_sentence_is_extracted_with_its_place(sample: Sample):
    require_tools_of([sample])
    # The real type is read from the bytes.
    assert detect_type(sample.data, sample.name) == sample.media_type

    result = extract(sample.data, name=sample.name)

    assert isinstance(result, Extracted)
    assert result.media_type == sample.media_type
    assert result.extractor and result.version
    assert sample.sentence in result.text
    # Sections are sorted and point inside the text.
    starts = [section.start for section in result.sections]
    assert starts == sorted(starts)
    assert all(0 <= start < len(result.text) for start in starts)
    # Where the format has pages or headings, the sentence's place is known.
    page, heading = location_at(result.sections, result.text.index(sample.sentence))
    assert page == sample.page
    assert heading == sample.heading


def test_every_high_format_is_in_the_corpus():
    suffixes = {sample.name.rsplit(".", 1)[-1] for sample in CORPUS}
    high = {"pdf", "docx", "doc", "rtf", "wpd", "txt", "md", "csv", "html", "htm", "xhtml"}
    code = {"py", "js", "ts", "sh", "bat", "css", "sql", "go", "rs", "java", "c", "h", "cpp"}
    assert high | code <= suffixes


def test_the_name_does_not_decide_a_documents_type():
    # A PDF named .txt and a Word document named .pdf are still what their bytes say.
    pdf = next(s for s in CORPUS if s.name == "review.pdf")
    word = next(s for s in CORPUS if s.name == "orchard.docx")

    as_text = extract(pdf.data, name="review.txt", declared_type="text/plain")
    as_pdf = extract(word.data, name="orchard.pdf", declared_type="application/pdf")

    assert as_text.media_type == "application/pdf" and pdf.sentence in as_text.text
    assert as_pdf.media_type == word.media_type and word.sentence in as_pdf.text


@pytest.mark.parametrize("sample", CORPUS[:11], ids=[s.name for s in CORPUS[:11]])
def test_extraction_is_deterministic(sample: Sample):
    require_tools_of([sample])
    # The ingest projection must rebuild byte-for-byte: the same bytes give the same result.
    assert extract(sample.data, name=sample.name) == extract(sample.data, name=sample.name)
