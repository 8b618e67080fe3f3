"""Bad input: one line on stderr, exit status 2, and nothing else.

One table of every refusal.  Each row names the case, gives the command line, the file it
reads (``data.csv`` in the test's own folder: its text or bytes, or a function that makes
it; ``model.json`` for --model: a dict written as JSON, or text) and the fragments its one
line must hold: the value at fault and the way out.  Every row is also checked to begin no
work (no fit, no figure, and no data generated unless the refusal comes from looking at the
data) and to leave every file as it was.

Refusals that protect output files, and the other exit statuses (stdout closed or full,
Ctrl-C), are in test_hostile.py.
"""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from conftest import three_blobs, write_file, write_table


@dataclass
class Bad:
    id: str
    argv: list
    fragments: tuple  # what the one line holds: the value at fault and the way out
    file: str | bytes | Callable | None = None  # data.csv: its content, or a function making it
    stdin: bytes | None = None  # what standard input holds (for --csv -)
    model: dict | str | None = None  # model.json: a dict written as JSON, or its text
    looks_at_data: bool = False  # refused once the data is made (still before any fit)


def bad(id, argv, *fragments, **prepare):
    return Bad(id, argv, fragments, **prepare)


# Tables the rows below read.
SIX_ROWS = "x,y,name\n1,2,a\n3,5,b\n4,1,c\n7,2,d\n2,8,e\n6,6,f\n"
CONSTANT = np.c_[np.random.RandomState(1).normal(size=(40, 2)), np.full(40, 3.0)]
_a = np.random.RandomState(2).normal(size=40)
COLLINEAR = np.c_[_a, 2 * _a + 1]  # b = 2a + 1
# Points on one line at a scale of 1e9: scikit-learn's fit would fail ("ill-defined
# empirical covariance"), since reg_covar 1e-6 is lost at that scale.
ON_A_LINE_AT_1E9 = "x,y\n" + "".join(f"{i * 1e9:.0f},{i * 1e9:.0f}\n" for i in range(1, 9))
LONG_OPEN_QUOTE = 'x,y,name\n1,2,"oops\n' + "".join(f"{i},{i % 7},row {i}\n" for i in range(20_000))


def three_blobs_csv(path):
    write_table(path, three_blobs())


def table(X, names):
    return lambda path: write_table(path, X, names)


def range_of(option, value, requirement):
    return bad(
        f"{option.lstrip('-')} {value}", [option, value], f"{option}: '{value}' {requirement}"
    )


CSV = ["--csv", "data.csv"]
FEW_ROWS = "use more data, fewer components or --columns"

# A mixture as --save-model writes it, of SIX_ROWS's columns x and y (the rows below spoil it).
MODEL = ["--model", "model.json"]
GOOD_MODEL = {
    "format": "gmm_clustering mixture",
    "version": 1,
    "columns": ["x", "y"],
    "covariance_type": "full",
    "weights": [0.5, 0.5],
    "means": [[2.0, 2.0], [6.0, 6.0]],
    "covariances": [[[1.0, 0.0], [0.0, 1.0]], [[2.0, 0.5], [0.5, 1.0]]],
    "n_samples": 6,
    "log_likelihood": -3.0,
    "bic": 50.0,
    "source": "data.csv",
}
NOT_A_MODEL = "--model model.json: not a model file saved by --save-model"
UNUSABLE = "--model model.json: not a usable model"

CASES = [
    # ----- numbers out of their range, or not numbers ---------------------------------
    range_of("--n-samples", "0", "must be from 1 to 1,000,000,000"),
    range_of("--n-samples", "-5", "must be from 1 to 1,000,000,000"),
    range_of("--n-samples", "100000000000", "must be from 1 to 1,000,000,000"),
    range_of("--n-samples", "abc", "is not a whole number (from 1 to 1,000,000,000)"),
    range_of("--n-samples", "1.5", "is not a whole number (from 1 to 1,000,000,000)"),
    range_of("--n-samples", "1e20", "is not a whole number (from 1 to 1,000,000,000)"),
    range_of("--n-features", "8000000", "must be from 1 to 100,000"),
    range_of("--n-components", "0", "must be from 1 to 1,000"),
    range_of("--n-init", "0", "must be from 1 to 1,000"),
    range_of("--n-init", str(10**20), "must be from 1 to 1,000"),
    range_of("--max-components", "0", "must be from 1 to 50"),
    range_of("--max-components", "51", "must be from 1 to 50"),
    range_of("--max-components", "x", "is not a whole number (from 1 to 50)"),
    bad(
        "max-components -1 with select",
        ["--select", "--max-components=-1"],
        "--max-components: '-1' must be from 1 to 50",
    ),
    bad(
        "max-components 600 with select",
        ["--select", "--max-components", "600"],
        "--max-components: '600' must be from 1 to 50",
    ),
    range_of("--sample", "0", "must be from 1 to 100,000,000"),
    range_of("--sample", "-5", "must be from 1 to 100,000,000"),
    range_of("--sample", "2.5", "is not a whole number (from 1 to 100,000,000)"),
    range_of("--sample", "1e20", "is not a whole number (from 1 to 100,000,000)"),
    range_of("--random-state", "-1", "must be from 0 to 4294967295 (numpy's seed range)"),
    range_of("--random-state", "4294967296", "must be from 0 to 4294967295 (numpy's seed range)"),
    range_of("--cluster-std", "0", "must be a positive number below 1e100"),
    range_of("--cluster-std", "-1", "must be a positive number below 1e100"),
    range_of("--cluster-std", "nan", "must be a positive number below 1e100"),
    range_of("--cluster-std", "inf", "must be a positive number below 1e100"),
    range_of("--anomalies", "0", "must be a percentage above 0 and below 100"),
    range_of("--anomalies", "-1", "must be a percentage above 0 and below 100"),
    range_of("--anomalies", "100", "must be a percentage above 0 and below 100"),
    range_of("--anomalies", "150", "must be a percentage above 0 and below 100"),
    range_of("--anomalies", "nan", "must be a percentage above 0 and below 100"),
    bad(
        "anomalies abc",
        ["--anomalies", "abc"],
        "--anomalies: 'abc' is not a number",
        "a percentage above 0 and below 100",
    ),
    bad(
        "n-samples x n-features beyond the memory",
        ["--n-samples", "1000000000", "--n-features", "100000"],
        "--n-samples x --n-features needs about 4800000.0 GB of memory",
        "use smaller numbers",
    ),
    bad(
        "n-components above n-samples",
        ["--n-components", "600"],
        "--n-components 600 exceeds --n-samples 500",
        "use fewer components or more samples",
    ),
    bad(
        "centers above n-samples",
        ["--centers", "1000"],
        "--centers 1000 exceeds --n-samples 500",
        "use fewer centers or more samples",
    ),
    bad(
        "the default 4 centers above n-samples",
        ["--n-samples", "3", "--n-components", "3"],
        "--centers 4 exceeds --n-samples 3",
        "use fewer centers or more samples",
    ),
    # ----- other values that cannot work ------------------------------------------------
    bad(
        "covariance-type foo",
        ["--covariance-type", "foo"],
        "--covariance-type: invalid choice: 'foo'",
        "choose from 'full', 'tied', 'diag', 'spherical'",
    ),
    bad(
        "criterion foo",
        ["--criterion", "foo"],
        "--criterion: invalid choice: 'foo'",
        "choose from 'bic', 'aic', 'icl'",
    ),
    bad("unknown option", ["--bogus"], "unrecognized arguments: --bogus", "see --help"),
    bad("empty save", ["--save", ""], "--save: needs a value, not an empty string"),
    bad("empty csv", ["--csv", ""], "--csv: needs a value, not an empty string"),
    bad("empty labels", [*CSV, "--labels", ""], "--labels: needs a value, not an empty string"),
    *[
        bad(
            f"predict {value}",
            ["--predict", value],
            f"--predict: '{value}' is not comma-separated finite numbers",
            "e.g. 1.5,2 (negative: --predict=-6,-6)",
        )
        for value in ("a,b", "1,nan", "1,,2", "1_0,1", "\u0661,2")  # one definition of a number
    ],
    bad(
        "negative predict without equals",
        ["--predict", "0,5", "--predict", "-6,-6"],
        "--predict: expected one argument",
        "a value that starts with '-' is written with '=': --predict=-6,-6",
    ),
    *[
        bad(
            f"predict with {n} coordinates",
            [*extra, "--predict", value],
            f"--predict {value} has {n} coordinates",
            "the data has 2 features (feature 1, feature 2)",
            looks_at_data=True,
        )
        for n, value, extra in [(3, "1,2,3", []), (1, "1", []), (3, "1,2,3", ["--select"])]
    ],
    *[
        bad(
            f"delimiter {name}",
            [*CSV, "--delimiter", value],
            f"--delimiter: {value!r} must be one character, not a quote or a line break",
            "('tab' and 'space' are understood)",
            file=three_blobs_csv,
        )
        for name, value in [
            ("double quote", '"'),
            ("single quote", "'"),
            ("line break", "\n"),
            ("two characters", "ab"),
        ]
    ],
    bad(
        "encoding nonsense",
        [*CSV, "--encoding", "nonsense"],
        "--encoding: 'nonsense' is not an encoding Python knows",
        "try utf-8, latin-1, cp1252 or utf-16",
        file=three_blobs_csv,
    ),
    # ----- options that contradict each other, or need another ----------------------------
    bad(
        "csv and dataset",
        [*CSV, "--dataset", "iris"],
        "--csv and --dataset both name the data; choose one",
        file=three_blobs_csv,
    ),
    *[
        bad(
            f"{option} without csv",
            [option, value],
            "--columns, --labels, --delimiter and --encoding apply to --csv only",
        )
        for option, value in [
            ("--columns", "a"),
            ("--labels", "a"),
            ("--delimiter", ";"),
            ("--encoding", "latin-1"),
        ]
    ],
    *[
        bad(
            f"no-plot and {option}",
            ["--no-plot", *argv],
            "--no-plot and --save/--report contradict each other; drop one",
        )
        for option, argv in [("save", ["--save", "a.png"]), ("report", ["--report"])]
    ],
    bad(
        "select and bayesian",
        ["--select", "--bayesian"],
        "--select and --bayesian are two ways of choosing k; use one",
    ),
    *[
        bad(f"select and {option}", ["--select", option, value], f"--select {why}: drop {option}")
        for option, value, why in [
            ("--n-components", "3", "chooses the number of components"),
            ("--init", "random", "makes its own starts"),
            ("--n-init", "3", "makes its own starts"),
        ]
    ],
    bad(  # --n-init has one meaning, N starts of one fit: given first, the same refusal
        "n-init then select",
        ["--n-init", "3", "--select"],
        "--select makes its own starts: drop --n-init",
    ),
    bad(
        "select and trace",
        ["--select", "--trace"],
        "--trace follows one GaussianMixture fit: not with --select or --bayesian",
    ),
    bad("sample-out without sample", ["--sample-out", "s.csv"], "--sample-out needs --sample N"),
    # ----- outputs that cannot be written ---------------------------------------------------
    bad(
        "save into a missing folder",
        ["--save", "/nonexistent_dir/x.png"],
        "--save /nonexistent_dir/x.png: folder /nonexistent_dir does not exist",
        "create it or choose another path",
    ),
    bad(
        "sample-out into a missing folder",
        ["--sample", "10", "--sample-out", "missing/s.csv"],
        "--sample-out missing/s.csv: folder ",
        "missing does not exist; create it or choose another path",
    ),
    bad(
        "save with an unknown extension",
        ["--save", "out.xyz"],
        "--save out.xyz: matplotlib cannot write 'xyz'; use one of ",
        "png",
    ),
    bad(
        "save without an extension",
        ["--save", "out"],
        "--save out: matplotlib cannot write 'a file without extension'; use one of ",
    ),
    bad(
        "save gif without trace",
        ["--save", "x.gif"],
        "--save: a .gif is the --trace animation",
        "add --trace or save png, pdf or svg",
    ),
    # ----- generated data no mixture can be fitted to --------------------------------------
    *[
        bad(
            f"two blobs of one point each {' '.join(extra)}".strip(),
            ["--n-samples", "2", "--centers", "2", *extra],
            f"make_blobs: 2 usable rows for 2 features and {k} components",
            FEW_ROWS,
            looks_at_data=True,
        )
        for k, extra in [
            (2, []),
            (2, ["--report"]),
            (2, ["--report", "--max-components", "1"]),
            (1, ["--select", "--max-components", "1"]),
        ]
    ],
    # ----- CSV files that cannot be read -----------------------------------------------------
    bad("csv missing", CSV, "data.csv: no such file; check the --csv path"),
    bad("csv is a directory", CSV, "data.csv: is a directory, not a CSV file", file=os.mkdir),
    bad(
        "csv empty",
        CSV,
        "data.csv: the file is empty; a header row and data rows are needed",
        file="",
    ),
    bad(
        "csv of blank lines",
        CSV,
        "data.csv: the file is empty; a header row and data rows are needed",
        file="\n  \r\n\n",
    ),
    bad(
        "csv empty standard input",
        ["--csv", "-"],
        "standard input: the file is empty; a header row and data rows are needed",
        stdin=b"",
    ),
    *[
        bad(
            f"csv of only {what}",
            CSV,
            "data.csv: holds only delimiters, quotes and blank lines",
            "a header row and data rows are needed",
            file=content,
        )
        for what, content in [("delimiters", ",,,\n,,\n,,,,\n"), ("quotes", '""\n""\n')]
    ],
    bad("csv header only", CSV, "data.csv: has a header but no data rows", file="x,y\n"),
    bad(
        "csv header and blank lines",
        CSV,
        "data.csv: has a header but no data rows",
        file='"x","y"\n\n\n',
    ),
    bad(
        "csv binary",
        CSV,
        "data.csv: looks binary (NUL or control bytes), not a CSV text file",
        file=b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(range(256)),
    ),
    bad(
        "csv latin-1",
        CSV,
        "data.csv: not UTF-8 text (invalid continuation byte at byte 1)",
        "give its encoding, e.g. --encoding latin-1",
        file="Länge,Breite\n1,2\n3,4\n".encode("latin-1"),
    ),
    bad(  # the byte is counted in the file, byte-order mark included
        "csv latin-1 after a utf-8 byte-order mark",
        CSV,
        "data.csv: not UTF-8 text (invalid continuation byte at byte 9)",
        "--encoding latin-1",
        file=b"\xef\xbb\xbfx,y\n1,\xe92\n",
    ),
    bad(  # named as UTF-16, not as binary (with a byte-order mark it is read)
        "csv utf-16 without byte-order mark",
        CSV,
        "data.csv: looks like UTF-16 text without a byte-order mark",
        "read it with --encoding utf-16-le",
        file="x,y\n1,2\n3,4\n".encode("utf-16-le"),
    ),
    *[
        bad(
            f"csv quote never closed {where}",
            CSV,
            f"data.csv: line {line}: a quote opened here is never closed",
            "close the quote",
            file=content,
        )
        for where, line, content in [
            ("in a row", 4, 'x,y\n1,2\n3,4\n5,"6\n7,8\n'),
            ("in the header", 1, 'x,"y\n1,2\n'),
            ("in three quotes", 1, '"""\n'),
            ("in a large file", 2, LONG_OPEN_QUOTE),
        ]
    ],
    bad(
        "csv ragged row",
        CSV,
        "data.csv: line 3 has 3 fields, the header has 2",
        "check the delimiter (--delimiter) or quoting",
        file="x,y\n1,2\n3,4,5\n6,7\n",
    ),
    bad(
        "csv ragged row in R's write.table layout",
        CSV,
        "data.csv: line 3 has 2 fields, the header has 2 and each row a row name first",
        "check the delimiter (--delimiter) or quoting",
        file='"x"\t"y"\n"r1"\t1\t2\n"r2"\t3\n',
    ),
    bad(
        "csv duplicate column names",
        CSV,
        "data.csv: duplicate column names: 'x' (columns 1, 3); 'y' (columns 2, 5)",
        "rename them so that each is unique",
        file="x,y,x,z,y\n1,2,3,4,5\n",
    ),
    # ----- columns and labels that cannot work -------------------------------------------------
    *[
        bad(
            f"csv unknown {option} {value}",
            [*CSV, option, value],
            f"data.csv: no column named {missing!r} for {option}",
            "columns are x, y, name",
            file=SIX_ROWS,
        )
        for option, value, missing in [
            ("--columns", "x,zzz", "zzz"),
            ("--columns", "x, y ,Y", "Y"),  # names are stripped, and case counts
            ("--labels", "species", "species"),
            ("--labels", "Name", "Name"),
        ]
    ],
    bad(
        "csv columns names one twice",
        [*CSV, "--columns", "x,x"],
        "data.csv: --columns names a column twice; name each once",
        file=SIX_ROWS,
    ),
    bad(
        "csv labels column among the columns",
        [*CSV, "--columns", "x", "--labels", "x"],
        "data.csv: 'x' is both in --columns and the --labels column",
        "labels are never fitted",
        file=SIX_ROWS,
    ),
    bad(
        "csv text column chosen",
        [*CSV, "--columns", "x,name"],
        "data.csv: column 'name' is not numeric (value 'a' on line 2)",
        "choose numeric columns with --columns",
        file=SIX_ROWS,
    ),
    bad(
        "csv with no numeric column",
        CSV,
        "data.csv: no numeric column to fit (columns: name, colour)",
        file="name,colour\nab,red\ncd,blue\nef,NA\n",
    ),
    bad(
        "csv read with the wrong delimiter",
        [*CSV, "--delimiter", ","],
        "data.csv: with --delimiter ',' the header is one column ('x; y ;group')",
        "the file looks ';'-separated: drop --delimiter, or give that one",
        file="x; y ;group\n1.5;2.5;a\n3.5;4.5;b\n",
    ),
    *[
        bad(
            f"csv decimal commas with {name}",
            CSV,
            "'1,5' looks like a decimal comma",
            "write decimal points (decimal commas are read only with ';' between fields)",
            file=content,
        )
        for name, content in [
            ("commas between fields", 'x,y\n"1,5","2,5"\n"3,1","4,2"\n'),
            ("tabs between fields", "a\tb\n1,5\t2,5\n3,5\t4,5\n"),
        ]
    ],
    bad(
        "csv labels of 126 values in 272 rows",
        [*CSV, "--labels", "g"],
        "data.csv: column 'g' has 126 distinct values in 272 rows",
        "--labels needs a column of classes",
        file="x,y,g\n" + "".join(f"{i},{i % 5},id{i % 126}\n" for i in range(272)),
    ),
    bad(
        "csv labels distinct in more than half the rows",
        [*CSV, "--labels", "g"],
        "data.csv: column 'g' has 6 distinct values in 10 rows",
        "--labels needs a column of classes",
        file="x,y,g\n" + "".join(f"{i},{i},c{i % 6}\n" for i in range(10)),
    ),
    bad(
        "csv labels all missing",
        [*CSV, "--labels", "g"],
        "data.csv: the labels are missing: column 'g' has no value in any row",
        "choose another --labels column",
        file="x,y,g\n1,2,NA\n3,4,\n5,6,#N/A\n",
    ),
    # ----- values no mixture can be fitted to ---------------------------------------------------
    *[
        bad(
            f"csv {value} {where}".strip(),
            CSV,
            f"data.csv: infinite value in row 3 (line {line}), column 'y'",
            "remove or fix it",
            file=f"x,y\n1,2\n3,4\n{blank}5,{value}\n6,1\n",
        )
        for value in ("inf", "-inf", "Infinity", "1e999")
        for where, line, blank in [("", 4, ""), ("after a blank line", 5, "\n")]
    ],
    bad(
        "csv fewer rows than components",
        [*CSV, "--n-components", "4"],
        "data.csv: 3 usable rows for 2 features and 4 components",
        FEW_ROWS,
        file="x,y\n1,2\n3,5\n4,1\n",
    ),
    bad(
        "csv fewer usable rows than components",
        [*CSV, "--n-components", "3"],
        "data.csv: 2 usable rows for 2 features and 3 components",
        FEW_ROWS,
        file="x,y\n1,2\nNA,5\n4,\n7,nan\n2,8\n",
    ),
    *[
        bad(
            f"csv two rows {' '.join(extra)}".strip(),
            [*CSV, *extra],
            f"data.csv: 2 usable rows for 2 features and {k} components",
            FEW_ROWS,
            file=table([[1.0, 2.0], [3.0, 5.0]], ["a", "b"]),
        )
        for k, extra in [(4, []), (1, ["--select"]), (4, ["--report"])]
    ],
    bad(
        "csv rows all identical",
        [*CSV, "--n-components", "2"],
        "data.csv: all 8 rows are identical; there is no variance to model",
        file="x,y\n" + "1.5,2\n" * 8,
    ),
    bad(
        "csv rows identical once the missing are dropped",
        [*CSV, "--n-components", "2"],
        "data.csv: all 3 rows are identical; there is no variance to model",
        file="x,y\n1,2\n1,2\n9,NA\n1,2\n",
    ),
    *[
        bad(
            f"csv constant column {' '.join(extra)}".strip(),
            [*CSV, *extra],
            "data.csv: column 'c' is constant (3)",
            "leave it out with --columns",
            file=table(CONSTANT, ["a", "b", "c"]),
        )
        for extra in ([], ["--select"], ["--report"])
    ],
    *[
        bad(
            f"csv collinear columns {' '.join(extra)}".strip(),
            [*CSV, *extra],
            "data.csv: column 'a' is a linear combination of the others",
            "leave it out with --columns",
            file=table(COLLINEAR, ["a", "b"]),
        )
        # (--select is not refused: it sets the full and tied candidates aside, see
        # test_spurious.py; --report fits the full model asked for, which is refused.)
        for extra in ([], ["--report"])
    ],
    bad(
        "csv collinear columns at a scale of 1e9",
        [*CSV, "--n-components", "2"],
        "data.csv: column 'y' is a linear combination of the others",
        "leave it out with --columns",
        file=ON_A_LINE_AT_1E9,
    ),
    bad(  # a variance of 1e-400 is beyond float64 (EM runs standardised, but x x' is not)
        "csv columns at extreme scales without scale",
        CSV,
        "data.csv: column 'tiny' has sd 1.65e-200",
        "add --scale",
        file=table(three_blobs() * [1e-200, 1e306], ["tiny", "huge"]),
    ),
    # Only variances beyond float64 are refused: an sd under 1e-150, or values above 1e150.
    # (Any other spread is fitted alike: see test_equivariance.py.)
    bad(
        "csv column with sd under 1e-150",
        CSV,
        "data.csv: column 'tiny' has sd 1.8e-151: its variance is beyond what floating point "
        "holds; add --scale",
        file=table(three_blobs() * [1.0, 1e-151], ["x", "tiny"]),
    ),
    bad(
        "csv column with values above 1e150",
        CSV,
        "data.csv: column 'huge' has sd 1.8e+151: its variance is beyond what floating point "
        "holds; add --scale",
        file=table(three_blobs() * [1.0, 1e151], ["x", "huge"]),
    ),
    bad(
        "constant once its text cells are missing",
        CSV,
        "data.csv: column 'x' is constant (3.5) once 20 cells are not numbers, read as missing",
        "leave it out with --columns",
        file=lambda path: write_file(
            path, "x,y\n" + "".join(f"3.5,{i}\nabc,{i * 7 % 5}\n" for i in range(20))
        ),
    ),
    bad(
        "digits of another script",
        CSV,
        "no numeric column to fit (columns: a, b); '\u0661' is not a number: write numbers with "
        "the digits 0-9, a point for decimals",
        file=lambda path: write_file(path, "a,b\n\u0661,\u0662\n\u0663,\u0664\n"),
    ),
    bad(
        "view pairs on 13 features",
        [*CSV, "--view", "pairs"],
        "--view pairs: 13 features make 78 panels, more than anyone reads pair by pair (at most "
        "12 features); use --view pca, or --columns",
        file=table(np.random.RandomState(3).normal(size=(30, 13)), [f"c{j}" for j in range(13)]),
    ),
    # ----- saved models that cannot be applied -------------------------------------------------
    bad(
        "model missing",
        [*MODEL, *CSV],
        "--model model.json: no such file; check the --model path",
        file=SIX_ROWS,
    ),
    bad("model not json", [*MODEL, *CSV], NOT_A_MODEL, file=SIX_ROWS, model="x,y\n1,2\n"),
    bad(
        "model of another format",
        [*MODEL, *CSV],
        UNUSABLE,
        "its \"format\" is not 'gmm_clustering mixture'",
        file=SIX_ROWS,
        model={**GOOD_MODEL, "format": "sklearn pickle"},
    ),
    bad(
        "model of version 2",
        [*MODEL, *CSV],
        UNUSABLE,
        "version 2; this script reads 1",
        file=SIX_ROWS,
        model={**GOOD_MODEL, "version": 2},
    ),
    bad(
        "model covariance not positive definite",
        [*MODEL, *CSV],
        "--model model.json: a covariance is not positive definite",
        file=SIX_ROWS,
        model={**GOOD_MODEL, "covariances": [[[1.0, 2.0], [2.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]]},
    ),
    bad(
        "model column the csv lacks",
        [*MODEL, *CSV],
        "data.csv: no column named 'z' for --model",
        "columns are x, y, name",
        file=SIX_ROWS,
        model={**GOOD_MODEL, "columns": ["x", "z"]},
    ),
    bad(
        "model of three columns on two generated features",
        MODEL,
        "--model model.json has 3 columns (a, b, c); the data has 2 features",
        "use --csv, or --n-features 3",
        model={
            **GOOD_MODEL,
            "columns": ["a", "b", "c"],
            "means": [[0.0] * 3, [5.0] * 3],
            "covariances": [np.eye(3).tolist()] * 2,
        },
        looks_at_data=True,
    ),
    *[
        bad(
            f"model and {option}",
            [*MODEL, *CSV, option, *values],
            f"--model applies a saved mixture: drop {option}",
            file=SIX_ROWS,
            model=GOOD_MODEL,
        )
        for option, *values in [
            ("--select",),
            ("--n-components", "2"),
            ("--covariance-type", "tied"),
            ("--init", "kmeans"),
            ("--scale",),
        ]
    ],
    bad(
        "model on standard input with anomalies and assignments",
        [*MODEL, "--csv", "-", "--anomalies", "5", "--assignments", "a.csv"],
        "--model with --anomalies and --assignments reads the table twice",
        "give a file, not standard input",
        stdin=SIX_ROWS.encode(),
        model=GOOD_MODEL,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_one_line_on_stderr_and_exit_2(refused, no_work, tmp_path, monkeypatch, case):
    if callable(case.file):
        case.file(tmp_path / "data.csv")
    elif case.file is not None:
        write_file(tmp_path / "data.csv", case.file)
    if case.model is not None:
        text = case.model if isinstance(case.model, str) else json.dumps(case.model)
        write_file(tmp_path / "model.json", text)
    if case.stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(case.stdin)))
    no_work.data_allowed = case.looks_at_data
    line = refused(*case.argv)  # no work begun, no file changed
    for fragment in case.fragments:
        assert fragment in line, (fragment, line)
