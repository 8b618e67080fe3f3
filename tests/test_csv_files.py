"""The CSV reader (read_csv_table) on files as R, spreadsheets and scripts write them.

Every file is written by the test under tmp_path, but for real R output in data/r_examples.
"""

import io
import os
import sys
import threading

import numpy as np
import pytest

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


def write(tmp_path, content, name="data.csv"):
    """``content`` (str as UTF-8, or bytes) written exactly; the path as a string."""
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return str(path)


def read(tmp_path, content, **options):
    return read_csv_table(write(tmp_path, content), **options)


def error(path, *fragments, **options):
    """The UsageError message: one line, starting with the file's name, holding each fragment."""
    with pytest.raises(UsageError) as caught:
        read_csv_table(path, **options)
    message = str(caught.value)
    assert "\n" not in message, message
    assert message.startswith(f"{path}: ") or path == "-", message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message


def table(rows, header="x,y"):
    return header + "\n" + "".join(",".join(map(str, row)) + "\n" for row in rows)


@pytest.fixture(params=["numpy", "csv module"])
def parser(request, monkeypatch):
    """Run a test through both parsers: numpy's (in small batches) and the csv module's."""
    monkeypatch.setattr(gmm_clustering, "BATCH_CHARS", 40)  # many batches, even in a small file
    if request.param == "csv module":
        monkeypatch.setattr(gmm_clustering, "_fast_batch", lambda *args: None)
    return request.param


# ----- R's files (points 1 and 2) ---------------------------------------------


@pytest.mark.parametrize("layout", list(R_FILES))
def test_r_files_read_exactly(tmp_path, parser, layout):
    data = read(tmp_path, R_FILES[layout])
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
def test_r_files_with_the_delimiter_given(tmp_path, layout, delimiter):
    data = read(tmp_path, R_FILES[layout], delimiter=delimiter)
    np.testing.assert_array_equal(data.X, R_X)


def test_r_examples_folder_if_present():
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "r_examples")
    names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    files = [f for f in names if f.endswith((".csv", ".txt")) and f != "README.txt"]
    if not files:
        pytest.skip("no R output in r_examples/")
    for name in files:
        data = read_csv_table(os.path.join(folder, name))
        np.testing.assert_array_equal(data.X, R_X, err_msg=name)
        assert data.dropped_rows == 1, name


def test_decimal_commas_with_semicolons(tmp_path, parser):
    data = read(tmp_path, "a;b\n1,5;-0,25\n2;3,125\n-1,0;4\n")
    np.testing.assert_array_equal(data.X, [[1.5, -0.25], [2, 3.125], [-1, 4]])
    assert data.notes == ["decimal commas read as decimal points"]


def test_decimal_commas_are_not_read_with_tabs(tmp_path):
    path = write(tmp_path, "a\tb\n1,5\t2,5\n3,5\t4,5\n")
    error(path, "no numeric column", "'1,5' looks like a decimal comma", "';'")


def test_r_write_table_with_one_column(tmp_path):
    data = read(tmp_path, '"x"\n"r1" 1.5\n"r2" 2\n"r3" -3\n')
    assert data.feature_names == ["x"]
    np.testing.assert_array_equal(data.X, [[1.5], [2], [-3]])
    assert data.skipped_columns == ["(row names)"]


# ----- missing values (point 3) -------------------------------------------------

ERROR_CELLS = ["#N/A", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#NULL!", "N/A"]


@pytest.mark.parametrize("cell", ERROR_CELLS)
def test_spreadsheet_error_cells_are_missing(tmp_path, parser, cell):
    data = read(tmp_path, table([[1, 2], [3, cell], [5, 6], [7, 8]]))
    np.testing.assert_array_equal(data.X, [[1, 2], [5, 6], [7, 8]])
    assert data.dropped_rows == 1
    assert data.notes == []


def test_every_missing_spelling_together(tmp_path, parser):
    cells = ["NA", "", " NA ", "nan", "NaN", "null", "None", "-", '""', "#N/A", '"NA"']
    rows = [[i, cell] for i, cell in enumerate(cells)] + [[20, 21], [22, 23], [24, 25]]
    data = read(tmp_path, table(rows))
    np.testing.assert_array_equal(data.X, [[20, 21], [22, 23], [24, 25]])
    assert data.dropped_rows == len(cells)


def test_rows_of_only_delimiters_are_skipped_not_counted(tmp_path, parser):
    data = read(tmp_path, "x,y\n1,2\n,\n\n3,4\n,\n")
    np.testing.assert_array_equal(data.X, [[1, 2], [3, 4]])
    assert data.dropped_rows == 0


# ----- a column of numbers with a few text cells (point 4) -----------------------


def test_text_cells_in_a_numeric_column_are_missing_and_noted(tmp_path, parser):
    rows = [[i, i * 10] for i in range(10)]
    rows[5][1], rows[8][1] = "abc", "n.d."
    data = read(tmp_path, table(rows))
    keep = [i for i in range(10) if i not in (5, 8)]
    np.testing.assert_array_equal(data.X, [[i, i * 10] for i in keep])
    assert data.dropped_rows == 2
    assert data.notes == [
        "column 'y': 2 cells are not numbers, read as missing (first: line 7, 'abc')"
    ]


def test_a_mostly_text_column_is_skipped(tmp_path, parser):
    rows = [[i, f"t{i}"] for i in range(6)]
    rows[1][1] = rows[4][1] = 7  # 2 numbers, 4 texts
    data = read(tmp_path, table(rows))
    assert data.feature_names == ["x"]
    assert data.skipped_columns == ["y"]
    np.testing.assert_array_equal(data.X[:, 0], range(6))
    assert data.notes == [] and data.dropped_rows == 0


def test_half_numbers_is_numeric(tmp_path):
    data = read(tmp_path, table([[1, 1], [2, "a"], [3, 3], [4, "b"], [5, "NA"]]))
    assert data.feature_names == ["x", "y"]
    np.testing.assert_array_equal(data.X, [[1, 1], [3, 3]])
    assert data.notes == [
        "column 'y': 2 cells are not numbers, read as missing (first: line 3, 'a')"
    ]


def test_text_far_into_a_long_file_is_noted_with_its_line(tmp_path):
    rows = [[i, i % 7] for i in range(30_000)]
    rows[29_000][0] = "oops"
    data = read(tmp_path, table(rows))
    assert data.X.shape == (29_999, 2) and data.dropped_rows == 1
    assert data.notes == [
        "column 'x': 1 cell is not a number, read as missing (first: line 29002, 'oops')"
    ]


def test_a_stray_nul_is_a_text_cell(tmp_path, parser):
    data = read(tmp_path, table([[1, 2], [3, "4\0"], [5, 6], [7, 8]]))
    np.testing.assert_array_equal(data.X, [[1, 2], [5, 6], [7, 8]])
    assert data.notes == [
        "column 'y': 1 cell is not a number, read as missing (first: line 3, '4\\x00')"
    ]


def test_many_nuls_are_binary(tmp_path):
    path = write(tmp_path, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(range(256)))
    error(path, "binary")


def test_duplicate_names_are_refused(tmp_path):
    path = write(tmp_path, "x,y,x,z,y\n1,2,3,4,5\n")
    message = error(path, "duplicate column names", "'x' (columns 1, 3)", "'y' (columns 2, 5)")
    assert "rename" in message


def test_a_header_of_numbers_is_data(tmp_path, parser):
    data = read(tmp_path, "1.5,2\n3,4\n5,-6\n")
    assert data.feature_names == ["column 1", "column 2"]
    np.testing.assert_array_equal(data.X, [[1.5, 2], [3, 4], [5, -6]])
    assert data.notes == [
        "the first row is all numbers: read as data, the columns named column 1 to column 2"
    ]


# ----- quoting (point 7) ------------------------------------------------------------


def test_unterminated_quote_names_its_line(tmp_path, parser):
    path = write(tmp_path, 'x,y\n1,2\n3,4\n5,"6\n7,8\n')
    error(path, "line 4: a quote opened here is never closed")


def test_unterminated_quote_in_a_large_file(tmp_path):
    rows = "".join(f"{i},{i % 7},row {i}\n" for i in range(20_000))
    path = write(tmp_path, 'x,y,name\n1,2,"oops\n' + rows)
    error(path, "line 2: a quote opened here is never closed")


def test_unterminated_quote_in_the_header(tmp_path):
    error(write(tmp_path, 'x,"y\n1,2\n'), "line 1: a quote opened here is never closed")


def test_quoted_cells_and_doubled_quotes(tmp_path, parser):
    text = '"Sepal ""Len""",b,"notes"\n"1.5","2","say ""hi"", twice"\n3,4,"two\nlines"\n'
    data = read(tmp_path, text)
    assert data.feature_names == ['Sepal "Len"', "b"]
    np.testing.assert_array_equal(data.X, [[1.5, 2], [3, 4]])


# ----- encodings (point 8) ------------------------------------------------------------


def test_latin1_without_encoding_names_the_byte_and_the_option(tmp_path):
    path = write(tmp_path, "Länge,Breite\n1,2\n3,4\n".encode("latin-1"))
    error(path, "not UTF-8", "at byte 1", "--encoding latin-1")


def test_latin1_with_its_encoding(tmp_path):
    data = read(tmp_path, "Länge,Breite\n1,2\n3,4\n".encode("latin-1"), encoding="latin-1")
    assert data.feature_names == ["Länge", "Breite"]
    np.testing.assert_array_equal(data.X, [[1, 2], [3, 4]])


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_with_a_byte_order_mark(tmp_path, codec):
    data = read(tmp_path, "\ufeffx,y\r\n1,2\r\n3,4\r\n".encode(codec))
    assert data.feature_names == ["x", "y"]
    np.testing.assert_array_equal(data.X, [[1, 2], [3, 4]])
    assert data.notes == ["read as UTF-16 (the file starts with a UTF-16 byte-order mark)"]


def test_utf16_without_byte_order_mark(tmp_path):
    path = write(tmp_path, "x,y\n1,2\n3,4\n".encode("utf-16-le"))
    message = error(path, "UTF-16", "--encoding utf-16-le")
    assert "binary" not in message
    data = read_csv_table(path, encoding="utf-16-le")
    np.testing.assert_array_equal(data.X, [[1, 2], [3, 4]])


def test_unknown_encoding(tmp_path):
    path = write(tmp_path, "x\n1\n")
    error(path, "unknown encoding 'klingon' (--encoding)", encoding="klingon")


def test_byte_offset_counts_the_utf8_byte_order_mark(tmp_path):
    path = write(tmp_path, b"\xef\xbb\xbfx,y\n1,\xe92\n")
    error(path, "at byte 9", "--encoding latin-1")


# ----- streams (point 9) -----------------------------------------------------------------


def test_standard_input(monkeypatch):
    stdin = io.TextIOWrapper(io.BytesIO(b"x,y\n1,2\n3,NA\n5,6\n"))
    monkeypatch.setattr(sys, "stdin", stdin)
    data = read_csv_table("-")
    assert data.source == "standard input"
    np.testing.assert_array_equal(data.X, [[1, 2], [5, 6]])


def test_empty_standard_input(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    assert error("-", "empty").startswith("standard input: ")


def _in_thread(function, timeout=10):
    """(result or exception) of ``function``, failing if it does not finish in time."""
    outcome = []
    thread = threading.Thread(target=lambda: outcome.append(_call(function)), daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "the reader hangs"
    return outcome[0]


def _call(function):
    try:
        return function()
    except UsageError as exc:  # handed back to the test
        return exc


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_named_pipe_without_writer_does_not_hang(tmp_path):
    fifo = str(tmp_path / "pipe.csv")
    os.mkfifo(fifo)
    outcome = _in_thread(lambda: read_csv_table(fifo))
    assert isinstance(outcome, UsageError) and "empty" in str(outcome)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_named_pipe_with_data(tmp_path):
    fifo = str(tmp_path / "pipe.csv")
    os.mkfifo(fifo)
    keep_open = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # lets the writer open and leave
    with open(fifo, "w") as writer:
        writer.write("x,y\n1,2\n3,4\n")
    outcome = _in_thread(lambda: read_csv_table(fifo))
    os.close(keep_open)
    np.testing.assert_array_equal(outcome.X, [[1, 2], [3, 4]])


# ----- labels (point 10) -------------------------------------------------------------------


def labelled(n_per_class=5, labels=("b", "a", "c")):
    rows = [[i, i % 3, labels[i % len(labels)]] for i in range(n_per_class * len(labels))]
    return rows


def test_labels_give_codes_and_class_names(tmp_path, parser):
    rows = labelled()
    rows[4][2] = "NA"  # no label: dropped
    data = read(tmp_path, table(rows, "x,y,g"), label_column="g")
    keep = [r for r in rows if r[2] != "NA"]
    np.testing.assert_array_equal(data.X, [r[:2] for r in keep])
    assert data.class_names == ["a", "b", "c"]
    np.testing.assert_array_equal(data.y, [["a", "b", "c"].index(r[2]) for r in keep])
    assert data.dropped_rows == 1
    assert data.feature_names == ["x", "y"] and data.skipped_columns == []


def test_number_labels_are_class_texts(tmp_path, parser):
    rows = labelled(labels=(2, 10, 1))
    data = read(tmp_path, table(rows, "x,y,g"), label_column="g")
    assert data.class_names == ["1", "10", "2"]
    np.testing.assert_array_equal(data.y, [["1", "10", "2"].index(str(r[2])) for r in rows])


def test_labels_with_too_many_values_are_refused(tmp_path):
    rows = [[i, i % 5, f"id{i % 126}"] for i in range(272)]
    path = write(tmp_path, table(rows, "x,y,g"))
    message = error(path, label_column="g")
    assert message == (
        f"{path}: column 'g' has 126 distinct values in 272 rows: "
        "--labels needs a column of classes"
    )


def test_labels_distinct_in_more_than_half_the_rows(tmp_path):
    path = write(tmp_path, table([[i, i, f"c{i % 6}"] for i in range(10)], "x,y,g"))
    error(path, "6 distinct values in 10 rows", label_column="g")


def test_labels_all_missing(tmp_path):
    path = write(tmp_path, table([[1, 2, "NA"], [3, 4, ""], [5, 6, "#N/A"]], "x,y,g"))
    error(path, "the labels are missing", "'g'", label_column="g")


def test_labels_with_decimal_commas_keep_their_text(tmp_path, parser):
    text = "x;y;g\n" + "".join(f"{i},5;{i};{'a, b' if i % 2 else 'c'}\n" for i in range(6))
    data = read(tmp_path, text, label_column="g")
    assert data.class_names == ["a, b", "c"]
    np.testing.assert_array_equal(data.X[:, 0], [i + 0.5 for i in range(6)])


# ----- files with nothing to read (point 11) ---------------------------------------------

NOTHING = {
    "empty": ("", "the file is empty"),
    "blank lines": ("\n  \r\n\n", "the file is empty"),
    "only delimiters": (",,,\n,,\n,,,,\n", "only delimiters, quotes and blank lines"),
    "only quotes": ('""\n""\n', "only delimiters, quotes and blank lines"),
    "odd quotes": ('"""\n', "line 1: a quote opened here is never closed"),
    "only a header": ("x,y\n", "has a header but no data rows"),
    "header and blank lines": ('"x","y"\n\n\n', "has a header but no data rows"),
}


@pytest.mark.parametrize("case", list(NOTHING))
def test_nothing_to_read_is_a_one_line_error(tmp_path, case):
    text, fragment = NOTHING[case]
    error(write(tmp_path, text), fragment)


# ----- infinite values (point 12) ------------------------------------------------------


@pytest.mark.parametrize("value", ["inf", "-inf", "Infinity", "1e999"])
def test_infinite_value_names_row_line_and_column(tmp_path, parser, value):
    path = write(tmp_path, f"x,y\n1,2\n3,4\n\n5,{value}\n6,1\n")
    message = error(path, "infinite value in row 3 (line 5), column 'y'; remove or fix it")
    assert message == f"{path}: infinite value in row 3 (line 5), column 'y'; remove or fix it"


# ----- what the old reader did, still done ------------------------------------------------


def test_messy_spreadsheet_export(tmp_path, parser):
    text = (
        '\ufeff"Sepal ""Len""","Sepal.Width","Species","notes"\r\n'
        '1.5,NA,"setosa","sample 1, lab ""B"""\r\n'
        '2.5,3.5,"setosa",NA\r\n'
        '-1,0.5,"virginica",""\r\n'
        'NaN,2,"virginica",x\r\n'
    )
    data = read(tmp_path, text, label_column="Species")
    assert data.feature_names == ['Sepal "Len"', "Sepal.Width"]
    assert data.skipped_columns == ["notes"]
    np.testing.assert_array_equal(data.X, [[2.5, 3.5], [-1, 0.5]])
    np.testing.assert_array_equal(data.y, [0, 1])
    assert data.class_names == ["setosa", "virginica"] and data.dropped_rows == 2


def test_columns_by_name_in_the_order_asked(tmp_path, parser):
    data = read(tmp_path, table([[1, 2, 3], [4, "NA", 6]], "a,b,c"), columns=["c", "a"])
    np.testing.assert_array_equal(data.X, [[3, 1], [6, 4]])
    assert data.feature_names == ["c", "a"] and data.skipped_columns == []


@pytest.mark.parametrize(
    "options, fragments",
    [
        (
            {"columns": ["x", "zzz"]},
            ["no column named 'zzz' for --columns; columns are x, y, name"],
        ),
        ({"label_column": "Name"}, ["no column named 'Name' for --labels"]),
        ({"columns": ["x", "name"]}, ["column 'name' is not numeric (value 'a' on line 2)"]),
        ({"columns": ["x", "x"]}, ["--columns names a column twice"]),
        ({"columns": ["x"], "label_column": "x"}, ["'x' is both in --columns and the --labels"]),
    ],
)
def test_column_choice_errors(tmp_path, options, fragments):
    path = write(tmp_path, "x,y,name\n1,2,a\n3,5,b\n4,1,c\n7,2,d\n")
    error(path, *fragments, **options)


def test_ragged_row(tmp_path, parser):
    path = write(tmp_path, "x,y\n1,2\n3,4,5\n6,7\n")
    error(path, "line 3 has 3 fields, the header has 2; check the delimiter")


def test_ragged_row_in_write_table_layout(tmp_path):
    path = write(tmp_path, '"x"\t"y"\n"r1"\t1\t2\n"r2"\t3\n')
    error(path, "line 3 has 2 fields, the header has 2 and each row a row name first")


def test_empty_column_is_skipped(tmp_path, parser):
    data = read(tmp_path, "x,y,comment\n1,2,\n3,4,\n")
    assert data.feature_names == ["x", "y"] and data.skipped_columns == ["comment"]
    np.testing.assert_array_equal(data.X, [[1, 2], [3, 4]])


@pytest.mark.parametrize(
    "header, delimiter",
    [('"Length, cm";"Width, cm"', ";"), ("Length, cm\tWidth, cm", "\t")],
)
def test_delimiter_sniffed_despite_a_comma_in_a_name(tmp_path, header, delimiter):
    data = read(tmp_path, f"{header}\n1.5{delimiter}2\n3{delimiter}4\n")
    assert data.feature_names == ["Length, cm", "Width, cm"]
    np.testing.assert_array_equal(data.X, [[1.5, 2], [3, 4]])


@pytest.mark.parametrize(
    "writer, fragment",
    [(None, "no such file; check the --csv path"), (os.mkdir, "is a directory")],
)
def test_missing_file_and_directory(tmp_path, writer, fragment):
    path = str(tmp_path / "data.csv")
    if writer:
        writer(path)
    error(path, fragment)


def test_no_numeric_column(tmp_path):
    error(write(tmp_path, "name,colour\nab,red\ncd,blue\n"), "no numeric column to fit")


def test_both_parsers_agree_on_a_mixed_table(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    rows = [
        [repr(v) for v in row] + [f"w{i % 4}"]
        for i, row in enumerate(rng.normal(size=(300, 3)).tolist())
    ]
    for i, j, cell in [(7, 0, "NA"), (20, 1, ""), (21, 1, "x"), (150, 2, "#N/A"), (299, 0, "-")]:
        rows[i][j] = cell
    rows[40] = ['"1.5"', '"2.5"', '"3.5"', '"w, 1"']
    path = write(tmp_path, "a,b,c,w\n" + "".join(",".join(r) + "\n" for r in rows))
    results = []
    for batch_chars, fast in [(1 << 22, True), (500, True), (500, False)]:
        monkeypatch.setattr(gmm_clustering, "BATCH_CHARS", batch_chars)
        if not fast:
            monkeypatch.setattr(gmm_clustering, "_fast_batch", lambda *args: None)
        data = read_csv_table(path, columns=["a", "b", "c"], label_column="w")
        results.append(data)
        assert data.dropped_rows == 5 and data.X.shape == (295, 3)
        assert data.notes == [
            "column 'b': 1 cell is not a number, read as missing (first: line 23, 'x')"
        ]
    for data in results[1:]:
        np.testing.assert_array_equal(data.X, results[0].X)
        np.testing.assert_array_equal(data.y, results[0].y)
        assert data.class_names == results[0].class_names == ["w, 1", "w0", "w1", "w2", "w3"]
