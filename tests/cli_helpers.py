"""Running the script in-process, shared by the test modules."""

import json

import gmm_clustering


def run(capsys, *argv):
    """main(argv) in-process: (exit status, stdout, stderr)."""
    rc = gmm_clustering.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def run_json(capsys, *argv):
    """Metrics only, as JSON: the parsed object of a successful run."""
    rc, out, err = run(capsys, "--no-plot", "--json", *argv)
    assert rc == 0, err
    return json.loads(out)


def assert_one_line_error(rc, out, err):
    """Exit 2, nothing on stdout, one line on stderr and no traceback."""
    assert rc == 2
    assert out == ""
    assert "Traceback" not in err
    assert err.endswith("\n") and err.count("\n") == 1, repr(err)
    assert err.startswith("gmm_clustering.py: error: ")


def select_model(X, max_k, criterion="bic", seed=42):
    """The sweep behind --select: (rows, the winner refitted on all of X, the sample or None)."""
    selection = gmm_clustering.select(X, max_k, criterion, seed)
    return selection.rows, selection.winner_mixture(X, seed), selection.sample


def bic_of(mixture, X):
    """BIC (scikit-learn's sign) of a fitted Mixture, from scipy's densities and a hand count."""
    import numpy as np
    from scipy.stats import multivariate_normal

    k, d = mixture.means.shape
    density = sum(
        w * multivariate_normal(m, c).pdf(X)
        for w, m, c in zip(mixture.weights, mixture.means, mixture.covariances)
    )
    own = {"full": k * d * (d + 1) // 2, "tied": d * (d + 1) // 2, "diag": k * d, "spherical": k}
    p = own[mixture.covariance_type] + k * d + k - 1
    return -2 * np.log(density).sum() + p * np.log(len(X))
