"""The CSV reader, ``read_csv_table``, on files as R, spreadsheets and scripts write them.

Every file is written by the test under tmp_path, but for real R output in data/r_examples.
The files it refuses are rows of the bad-input table (test_bad_input.py).

The reader hands the text to numpy's parser a batch at a time and a batch numpy cannot
take to the csv module; most tests read their file both ways (the ``read`` fixture).
"""

import io
import os
import sys
import threading

import numpy as np
import pytest
from conftest import DATA, write_file

import gmm_clustering
from gmm_clustering import UsageError, read_csv_table

# R 4.2 output for df <- data.frame(x = c(1.5, 2.25, NA, 4), y = c(10, 20.5, 30, 40),
# g = c("a", "b", "a b", "c")) with row names r1..r4.
R_FILES = {
    "write.csv": '"","x","y","g"\n"r1",1.5,10,"a"\n"r2",2.25,20.5,"b"\n"r3",NA,30,"a b"\n'
    '"r4",4,40,"c"\n',
    "write.csv2": '"";"x";"y";"g"\n"r1";1,5;10;"a"\n"r2";2,25;20,5;"b"\n"r3";NA;30;"a b"\n'
    '"r4";4;40;"c"\n',
    "write.table": '"x" "y" "g"\n"r1" 1.5 10 "a"\n"r2" 2.25 20.5 "b"\n"r3" NA 30 "a b"\n'
    '"r4" 4 40 "c"\n',
    "write.table-tab": '"x"\t"y"\t"g"\n"r1"\t1.5\t10\t"a"\n"r2"\t2.25\t20.5\t"b"\n'
    '"r3"\tNA\t30\t"a b"\n"r4"\t4\t40\t"c"\n',
    "write.csv2-line-break": '"";"x";"y";"g"\n"r1";1,5;10;"a"\n"r2";2,25;20,5;"two\nlines"\n'
    '"r3";NA;30;"a b"\n"r4";4;40;"c"\n',
}
R_X = [[1.5, 10.0], [2.25, 20.5], [4.0, 40.0]]  # row r3 has NA: dropped


def table(rows, header="x,y"):
    return header + "\n" + "".join(",".join(map(str, row)) + "\n" for row in rows)


@pytest.fixture(params=["numpy in small batches", "csv module"])
def read(request, monkeypatch, tmp_path):
    """read(text, **options): read_csv_table on a file holding ``text``, by one of the paths.

    numpy: BATCH_CHARS of 40 cuts even a small file into many batches.  The csv module: a
    blank line added at the end; numpy's parser skips it, so its rows no longer match the
    file's lines and the (one) batch is read by the csv module.
    """
    blank_line = ""
    if request.param == "numpy in small batches":
        monkeypatch.setattr(gmm_clustering, "BATCH_CHARS", 40)
    else:
        blank_line = "\n"

    def read(text, **options):
        return read_csv_table(write_file(tmp_path / "data.csv", text + blank_line), **options)

    return read


def read_file(content, **options):
    """read_csv_table on a file holding ``content`` (text as UTF-8, or bytes)."""
    return read_csv_table(write_file("data.csv", content), **options)


# ----- R's files (points 1 and 2) ---------------------------------------------


@pytest.mark.parametrize("layout", list(R_FILES))
def test_r_files_read_exactly(read, layout):
    data = read(R_FILES[layout])
    assert data.feature_names == ["x", "y"]
    np.testing.assert_array_equal(data.X, R_X)
    assert data.dropped_rows == 1
    assert data.skipped_columns == ["(row names)", "g"]
    commas = ["decimal commas read as decimal points"] if "csv2" in layout else []
    assert data.notes == commas


@pytest.mark.parametrize(
    "layout, delimiter",
    [("write.csv2", ";"), ("write.table", " "), ("write.table-tab", "\t"), ("write.csv", ",")],
)
def test_r_files_with_the_delimiter_given(layout, delimiter):
    data = read_file(R_FILES[layout], delimiter=delimiter)
    np.testing.assert_array_equal(data.X, R_X)


R_EXAMPLES = DATA / "r_examples"


@pytest.mark.parametrize("name", sorted(os.listdir(R_EXAMPLES)))
def test_files_written_by_r_itself(name):
    data = read_csv_table(str(R_EXAMPLES / name))
    np.testing.assert_array_equal(data.X, R_X)
    assert data.dropped_rows == 1


def test_decimal_commas_with_semicolons(read):
    data = read("a;b\n1,5;-0,25\n2;3,125\n-1,0;4\n")
    np.testing.assert_array_equal(data.X, [[1.5, -0.25], [2, 3.125], [-1, 4]])
    assert data.notes == ["decimal commas read as decimal points"]


def test_r_write_table_with_one_column():
    data = read_file('"x"\n"r1" 1.5\n"r2" 2\n"r3" -3\n')
    assert data.feature_names == ["x"]
    np.testing.assert_array_equal(data.X, [[1.5], [2], [-3]])
    assert data.skipped_columns == ["(row names)"]


# ----- missing values (point 3) -------------------------------------------------

ERROR_CELLS = ["#N/A", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#NULL!", "N/A"]


@pytest.mark.parametrize("cell", ERROR_CELLS)
def test_spreadsheet_error_cells_are_missing(read, cell):
    data = read(table([[1, 2], [3, cell], [5, 6], [7, 8]]))
    np.testing.assert_array_equal(data.X, [[1, 2], [5, 6], [7, 8]])
    assert data.dropped_rows == 1
    assert data.notes == []


def test_every_missing_spelling_together(read):
    cells = ["NA", "", " NA ", "nan", "NaN", "null", "None", "-", '""', "#N/A", '"NA"']
    rows = [[i, cell] for i, cell in enumerate(cells)] + [[20, 21], [22, 23], [24, 25]]
    data = read(table(rows))
    np.testing.assert_array_equal(data.X, [[20, 21], [22, 23], [24, 25]])
    assert data.dropped_rows == len(cells)


def test_rows_of_only_delimiters_are_skipped_not_counted(read):
    data = read("x,y\n1,2\n,\n\n3,4\n,\n")
    np.testing.assert_array_equal(data.X, [[1, 2], [3, 4]])
    assert data.dropped_rows == 0


# ----- a column of numbers with a few text cells (point 4) -----------------------


def test_text_cells_in_a_numeric_column_are_missing_and_noted(read):
    rows = [[i, i * 10] for i in range(10)]
    rows[5][1], rows[8][1] = "abc", "n.d."
    data = read(table(rows))
    keep = [i for i in range(10) if i not in (5, 8)]
    np.testing.assert_array_equal(data.X, [[i, i * 10] for i in keep])
    assert data.dropped_rows == 2
    assert data.notes == [
        "column 'y': 2 cells are not numbers, read as missing (first: line 7, 'abc')"
    ]


def test_a_mostly_text_column_is_skipped(read):
    rows = [[i, f"t{i}"] for i in range(6)]
    rows[1][1] = rows[4][1] = 7  # 2 numbers, 4 texts
    data = read(table(rows))
    assert data.feature_names == ["x"]
    assert data.skipped_columns == ["y"]
    np.testing.assert_array_equal(data.X[:, 0], range(6))
    assert data.notes == [] and data.dropped_rows == 0


def test_half_numbers_is_numeric():
    data = read_file(table([[1, 1], [2, "a"], [3, 3], [4, "b"], [5, "NA"]]))
    assert data.feature_names == ["x", "y"]
    np.testing.assert_array_equal(data.X, [[1, 1], [3, 3]])
    assert data.notes == [
        "column 'y': 2 cells are not numbers, read as missing (first: line 3, 'a')"
    ]


def test_text_far_into_a_long_file_is_noted_with_its_line():
    rows = [[i, i % 7] for i in range(30_000)]
    rows[29_000][0] = "oops"
    data = read_file(table(rows))
    assert data.X.shape == (29_999, 2) and data.dropped_rows == 1
    assert data.notes == [
        "column 'x': 1 cell is not a number, read as missing (first: line 29002, 'oops')"
    ]


def test_a_stray_nul_is_a_text_cell(read):
    data = read(table([[1, 2], [3, "4\0"], [5, 6], [7, 8]]))
    np.testing.assert_array_equal(data.X, [[1, 2], [5, 6], [7, 8]])
    assert data.notes == [
        "column 'y': 1 cell is not a number, read as missing (first: line 3, '4\\x00')"
    ]


def test_a_header_of_numbers_is_data(read):
    data = read("1.5,2\n3,4\n5,-6\n")
    assert data.feature_names == ["column 1", "column 2"]
    np.testing.assert_array_equal(data.X, [[1.5, 2], [3, 4], [5, -6]])
    assert data.notes == [
        "the first row is all numbers: read as data, the columns named column 1 to column 2"
    ]


# ----- quoting (point 7) ------------------------------------------------------------


def test_quoted_cells_and_doubled_quotes(read):
    text = '"Sepal ""Len""",b,"notes"\n"1.5","2","say ""hi"", twice"\n3,4,"two\nlines"\n'
    data = read(text)
    assert data.feature_names == ['Sepal "Len"', "b"]
    np.testing.assert_array_equal(data.X, [[1.5, 2], [3, 4]])


# ----- encodings (point 8) ------------------------------------------------------------


def test_latin1_with_its_encoding():
    data = read_file("Länge,Breite\n1,2\n3,4\n".encode("latin-1"), encoding="latin-1")
    assert data.feature_names == ["Länge", "Breite"]
    np.testing.assert_array_equal(data.X, [[1, 2], [3, 4]])


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_with_a_byte_order_mark(codec):
    data = read_file("\ufeffx,y\r\n1,2\r\n3,4\r\n".encode(codec))
    assert data.feature_names == ["x", "y"]
    np.testing.assert_array_equal(data.X, [[1, 2], [3, 4]])
    assert data.notes == ["read as UTF-16 (the file starts with a UTF-16 byte-order mark)"]


def test_utf16_without_byte_order_mark_with_its_encoding():
    data = read_file("x,y\n1,2\n3,4\n".encode("utf-16-le"), encoding="utf-16-le")
    np.testing.assert_array_equal(data.X, [[1, 2], [3, 4]])


def test_an_unknown_encoding_given_to_the_reader_is_named():
    # On the command line --encoding refuses it first (a row of the bad-input table).
    path = write_file("data.csv", "x\n1\n")
    with pytest.raises(UsageError) as refused:
        read_csv_table(path, encoding="klingon")
    assert str(refused.value) == (
        "data.csv: unknown encoding 'klingon' (--encoding); try utf-8, latin-1 or utf-16"
    )


# ----- streams (point 9) -----------------------------------------------------------------


def test_standard_input(monkeypatch):
    stdin = io.TextIOWrapper(io.BytesIO(b"x,y\n1,2\n3,NA\n5,6\n"))
    monkeypatch.setattr(sys, "stdin", stdin)
    data = read_csv_table("-")
    assert data.source == "standard input"
    np.testing.assert_array_equal(data.X, [[1, 2], [5, 6]])


def in_thread(function, timeout=10):
    """The result of ``function``, or the UsageError it raised; failing if it hangs."""
    outcome = []

    def call():
        try:
            outcome.append(function())
        except UsageError as exc:  # handed back to the test
            outcome.append(exc)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "the reader hangs"
    return outcome[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_named_pipe_without_writer_does_not_hang(tmp_path):
    fifo = str(tmp_path / "pipe.csv")
    os.mkfifo(fifo)
    outcome = in_thread(lambda: read_csv_table(fifo))
    assert isinstance(outcome, UsageError)
    assert str(outcome) == f"{fifo}: the file is empty; a header row and data rows are needed"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_named_pipe_with_data(tmp_path):
    fifo = str(tmp_path / "pipe.csv")
    os.mkfifo(fifo)
    keep_open = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # lets the writer open and leave
    with open(fifo, "w") as writer:
        writer.write("x,y\n1,2\n3,4\n")
    outcome = in_thread(lambda: read_csv_table(fifo))
    os.close(keep_open)
    np.testing.assert_array_equal(outcome.X, [[1, 2], [3, 4]])


# ----- labels (point 10) -------------------------------------------------------------------


def labelled(n_per_class=5, labels=("b", "a", "c")):
    return [[i, i % 3, labels[i % len(labels)]] for i in range(n_per_class * len(labels))]


def test_labels_give_codes_and_class_names(read):
    rows = labelled()
    rows[4][2] = "NA"  # no label: dropped
    data = read(table(rows, "x,y,g"), label_column="g")
    keep = [r for r in rows if r[2] != "NA"]
    np.testing.assert_array_equal(data.X, [r[:2] for r in keep])
    assert data.class_names == ["a", "b", "c"]
    np.testing.assert_array_equal(data.y, [["a", "b", "c"].index(r[2]) for r in keep])
    assert data.dropped_rows == 1
    assert data.feature_names == ["x", "y"] and data.skipped_columns == []


def test_number_labels_are_class_texts(read):
    rows = labelled(labels=(2, 10, 1))
    data = read(table(rows, "x,y,g"), label_column="g")
    assert data.class_names == ["1", "10", "2"]
    np.testing.assert_array_equal(data.y, [["1", "10", "2"].index(str(r[2])) for r in rows])


def test_labels_with_decimal_commas_keep_their_text(read):
    text = "x;y;g\n" + "".join(f"{i},5;{i};{'a, b' if i % 2 else 'c'}\n" for i in range(6))
    data = read(text, label_column="g")
    assert data.class_names == ["a, b", "c"]
    np.testing.assert_array_equal(data.X[:, 0], [i + 0.5 for i in range(6)])


# ----- what the old reader did, still done ------------------------------------------------


def test_messy_spreadsheet_export(read):
    text = (
        '\ufeff"Sepal ""Len""","Sepal.Width","Species","notes"\r\n'
        '1.5,NA,"setosa","sample 1, lab ""B"""\r\n'
        '2.5,3.5,"setosa",NA\r\n'
        '-1,0.5,"virginica",""\r\n'
        'NaN,2,"virginica",x\r\n'
    )
    data = read(text, label_column="Species")
    assert data.feature_names == ['Sepal "Len"', "Sepal.Width"]
    assert data.skipped_columns == ["notes"]
    np.testing.assert_array_equal(data.X, [[2.5, 3.5], [-1, 0.5]])
    np.testing.assert_array_equal(data.y, [0, 1])
    assert data.class_names == ["setosa", "virginica"] and data.dropped_rows == 2


def test_columns_by_name_in_the_order_asked(read):
    data = read(table([[1, 2, 3], [4, "NA", 6]], "a,b,c"), columns=["c", "a"])
    np.testing.assert_array_equal(data.X, [[3, 1], [6, 4]])
    assert data.feature_names == ["c", "a"] and data.skipped_columns == []


def test_empty_column_is_skipped(read):
    # Spreadsheets export an empty column (or a trailing delimiter) like this.
    data = read("x,y,comment\n1,2,\n3,4,\n")
    assert data.feature_names == ["x", "y"] and data.skipped_columns == ["comment"]
    np.testing.assert_array_equal(data.X, [[1, 2], [3, 4]])
    assert data.dropped_rows == 0


@pytest.mark.parametrize(
    "header, delimiter",
    [('"Length, cm";"Width, cm"', ";"), ("Length, cm\tWidth, cm", "\t")],
)
def test_delimiter_sniffed_despite_a_comma_in_a_name(header, delimiter):
    data = read_file(f"{header}\n1.5{delimiter}2\n3{delimiter}4\n")
    assert data.feature_names == ["Length, cm", "Width, cm"]
    np.testing.assert_array_equal(data.X, [[1.5, 2], [3, 4]])


def mixed_table(rows_apart=""):
    """300 rows of three numbers and a word, with missing and text cells and a quoted row;
    ``rows_apart`` is written between the rows (a blank line: the file double-spaced)."""
    rng = np.random.default_rng(3)
    rows = [
        [repr(v) for v in row] + [f"w{i % 4}"]
        for i, row in enumerate(rng.normal(size=(300, 3)).tolist())
    ]
    for i, j, cell in [(7, 0, "NA"), (20, 1, ""), (21, 1, "x"), (150, 2, "#N/A"), (299, 0, "-")]:
        rows[i][j] = cell
    rows[40] = ['"1.5"', '"2.5"', '"3.5"', '"w, 1"']
    return "a,b,c,w\n" + "".join(",".join(r) + "\n" + rows_apart for r in rows)


@pytest.mark.parametrize(
    "batch_chars, rows_apart, text_line",
    [
        (1 << 22, "", 23),  # one batch, through numpy
        (500, "", 23),  # many batches, through numpy
        # Many batches, through the csv module: each of the first batches has blank lines
        # (numpy's row count misses), and after a few misses numpy is not tried again.
        # Row 21 is on line 2 + 2 * 21 of the double-spaced file.
        (500, "\n", 44),
    ],
    ids=["numpy in one batch", "numpy in batches", "csv module in batches"],
)
def test_every_way_of_reading_agrees_on_a_mixed_table(
    monkeypatch, batch_chars, rows_apart, text_line
):
    monkeypatch.setattr(gmm_clustering, "BATCH_CHARS", batch_chars)
    data = read_file(mixed_table(rows_apart), columns=["a", "b", "c"], label_column="w")
    assert data.dropped_rows == 5 and data.X.shape == (295, 3)
    assert data.notes == [
        f"column 'b': 1 cell is not a number, read as missing (first: line {text_line}, 'x')"
    ]
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 3))
    X[40] = [1.5, 2.5, 3.5]
    keep = np.ones(300, bool)
    keep[[7, 20, 21, 150, 299]] = False
    np.testing.assert_array_equal(data.X, X[keep])
    words = [f"w{i % 4}" for i in range(300)]
    words[40] = "w, 1"
    assert data.class_names == ["w, 1", "w0", "w1", "w2", "w3"]
    np.testing.assert_array_equal(np.array(data.class_names)[data.y], np.array(words)[keep])
